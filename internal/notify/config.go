package notify

import (
	"errors"
	"fmt"
	"net/url"
)

// CheckURL reports what is wrong with s as a URL of a receiver's
// configuration (an API, a runbook base): it must be an absolute http(s)
// URL. Errors show the URL without its password, if any.
func CheckURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("is not a URL")
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("must be an absolute http(s) URL, got %q", u.Redacted())
	}
	return nil
}
