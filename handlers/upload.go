package handlers

import (
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"path/filepath"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/renewal"
	"github.com/depportal/depportal/views"
)

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
		req.FileName = filepath.Base(header.Filename)
		if req.File, err = readLimited(file, renewal.MaxFileSize); err != nil {
			return err
		}
		// Wrong uploads can be private keys or decrypted tokens: keep no copy longer than needed.
		defer clear(req.File)
	}

	review, err := s.Renewals.Prepare(c.Request().Context(), s.renewalSession(c), req)
	var fe renewal.FieldErrors
	if errors.As(err, &fe) {
		return s.renderSettingPage(c, id, http.StatusUnprocessableEntity, views.RenewForm{AppleID: req.AppleID, Errors: fe}, false)
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
