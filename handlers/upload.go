package handlers

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"path/filepath"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/renewal"
	"github.com/depportal/depportal/views"
)

// uploadRoute is the renewal form's address: a body too large for it comes back as the form.
const uploadRoute = "/settings/:id/upload"

// upload checks a token file against the token it is meant for and shows the review. Nothing
// is sent to Intune here.
func (s *server) upload(c echo.Context) error {
	if err := parseForm(c.Request()); err != nil {
		return err
	}
	id := c.Param("id")
	req := renewal.Request{SettingID: id, AppleID: c.Request().FormValue("apple_id")}
	file, header, err := c.Request().FormFile("token_file")
	switch {
	case errors.Is(err, http.ErrMissingFile):
	case err != nil:
		return echo.NewHTTPError(http.StatusBadRequest, "malformed form")
	case header.Filename == "" && header.Size == 0:
		// A browser resubmitting the form (Back, reload) sends the file field without the file:
		// the person has to choose it again, nothing is wrong with their file.
		file.Close()
	default:
		defer file.Close()
		req.FileName, req.Size = filepath.Base(header.Filename), header.Size
		if req.File, err = readLimited(file, renewal.MaxFileSize); err != nil {
			return err
		}
		// Wrong uploads can be private keys or decrypted tokens: keep no copy longer than needed.
		defer clear(req.File)
	}

	review, err := s.Renewals.Prepare(c.Request().Context(), s.renewalSession(c), req)
	var fe renewal.FieldErrors
	if errors.As(err, &fe) {
		form := views.RenewForm{AppleID: req.AppleID, Errors: fe}
		if _, bad := fe["token_file"]; !bad && req.File != nil {
			form.DroppedFile = req.FileName
		}
		return s.renderSettingPage(c, id, http.StatusUnprocessableEntity, form, false)
	}
	if err != nil {
		return &inSetting{ID: id, AppleID: req.AppleID, Err: err}
	}
	if review.Failed() {
		return render(c, http.StatusUnprocessableEntity, views.ReviewPage(s.page(c, "Check "+review.Setting.TokenName), s.reviewView(review.Setting.ID, review.Setting.TokenName, review, false)))
	}
	// The review lives at its own address, so a reload or Back shows it (or, once sent, what
	// became of it) instead of posting the form again.
	return c.Redirect(http.StatusSeeOther, "/uploads/"+review.PendingID)
}

// uploadTooLarge answers a renewal form whose body is over the portal's limit with the form
// again, a message by the file field and the token's page around it: the person's next step
// is the right file, not an error page. It reports whether it answered; the body was not read,
// so the Apple ID comes from Intune.
func (s *server) uploadTooLarge(err error, c echo.Context) bool {
	if !errors.Is(err, errTooLarge) || c.Request().Method != http.MethodPost || c.Path() != uploadRoute {
		return false
	}
	sess, ok := sessionOf(c)
	if !ok || !sess.Identity.HasRole(s.roles.Uploader) {
		return false
	}
	sent := "more than " + renewal.Size(maxBody)
	if n := c.Request().ContentLength; n > 0 {
		sent = "about " + renewal.Size(int(n))
	}
	msg := fmt.Sprintf("What you sent is %s; a server token is about 3 KB (at most %d KB accepted). Choose the .p7m file you downloaded from Apple.", sent, renewal.MaxFileSize/1024)
	form := views.RenewForm{Errors: renewal.FieldErrors{"token_file": msg}}
	if rerr := s.renderSettingPage(c, c.Param("id"), http.StatusRequestEntityTooLarge, form, true); rerr != nil {
		s.Logger.Warn("render the renewal form for a body too large", "request_id", requestIDOf(c), "err", rerr)
		return c.Response().Committed
	}
	s.Logger.Info("request failed", "request_id", requestIDOf(c), "status", http.StatusRequestEntityTooLarge, "err", err)
	return true
}

// readLimited reads at most limit+1 bytes, so an oversized file is noticed without reading it all.
func readLimited(f multipart.File, limit int) ([]byte, error) {
	return io.ReadAll(io.LimitReader(f, int64(limit)+1))
}

// reviewView words a review for its page: the finding that stopped the file first, the
// warnings that need a decision counted at the top, and, for a file made for another token of
// the tenant, the form that renews that token with the file already checked.
func (s *server) reviewView(settingID, settingName string, r renewal.Review, ackMissing bool) views.Review {
	v := views.Review{
		Token:         tokenView(r.Setting, s.Now()),
		AppleID:       r.AppleID,
		FileName:      r.FileName,
		FileSHA256:    r.Report.SHA256,
		AckMissing:    ackMissing,
		ChooseAnother: (&inSetting{ID: settingID, AppleID: r.AppleID}).path(),
	}
	if v.Token.ID == "" {
		v.Token.ID, v.Token.Name = settingID, settingName
	}
	if r.Confirmable() {
		v.ConfirmAction = "/uploads/" + r.PendingID + "/confirm"
		v.ExpiresAt = timeSoon(r.ExpiresAt, s.Now())
	}
	for _, ch := range r.Checks {
		vc := views.Check{ID: "check-" + ch.Name, Title: ch.Title, Verdict: string(ch.Verdict), Message: ch.Message,
			Ack: ch.Ack, Consequence: ch.Consequence, Conditional: ch.Conditional}
		if ch.PublicKeyLink {
			vc.PublicKeyHref = "/settings/" + settingID + "/public-key"
		}
		if ch.Verdict == renewal.Fail && v.Stopped == "" {
			v.Stopped = ch.Title
		}
		v.Checks = append(v.Checks, vc)
	}
	if o := r.ForOther(); o != nil && r.PendingID != "" {
		appleID := o.AppleID
		if appleID == "" {
			appleID = r.AppleID
		}
		v.Other = &views.RenewOther{Action: "/uploads/" + r.PendingID + "/renew-other", SettingID: o.ID, TokenName: o.Name, Program: o.Program, AppleID: appleID}
	}
	return v
}
