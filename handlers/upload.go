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

func (s *server) reviewView(settingID, settingName string, r renewal.Review, ackMissing bool) views.Review {
	v := views.Review{
		Token:      tokenView(r.Setting, s.Now()),
		AppleID:    r.AppleID,
		FileName:   r.FileName,
		FileSHA256: r.Report.SHA256,
		PendingID:  r.PendingID,
		AckMissing: ackMissing,
	}
	if v.Token.ID == "" {
		v.Token.ID, v.Token.Name = settingID, settingName
	}
	if !r.ExpiresAt.IsZero() {
		v.ExpiresAt = r.ExpiresAt.UTC().Format("15:04 UTC")
	}
	for _, ch := range r.Checks {
		vc := views.Check{Title: ch.Title, Verdict: string(ch.Verdict), Message: ch.Message, Ack: ch.Ack}
		if ch.PublicKeyLink {
			vc.PublicKeyHref = "/settings/" + settingID + "/public-key"
		}
		v.Checks = append(v.Checks, vc)
	}
	return v
}
