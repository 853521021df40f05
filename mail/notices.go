package mail

import "fmt"

// Notice is a security notice: a message telling the owner of an account
// that something about it changed, so that a change they did not make
// does not go unnoticed. No notice carries a secret or a working link.
type Notice int

// The security notices.
const (
	// NoticePasswordChanged: the password was changed, set or removed.
	NoticePasswordChanged Notice = iota + 1
	// NoticeEmailChanged: the address changed; sent to the old address.
	NoticeEmailChanged
	// NoticeNewBrowser: a browser the account was not signed in from
	// before signed in.
	NoticeNewBrowser
	// NoticeSecondFactor: a second factor was added or removed, or a
	// recovery code was used.
	NoticeSecondFactor
)

// String is the notice's key under mail.notices.
func (n Notice) String() string {
	switch n {
	case NoticePasswordChanged:
		return "password_changed"
	case NoticeEmailChanged:
		return "email_changed"
	case NoticeNewBrowser:
		return "new_browser"
	case NoticeSecondFactor:
		return "second_factor"
	}
	return fmt.Sprintf("Notice(%d)", int(n))
}

// Notices switches the security notices (mail.notices): each is sent
// unless its key is false.
type Notices struct {
	PasswordChanged *bool `yaml:"password_changed"`
	EmailChanged    *bool `yaml:"email_changed"`
	NewBrowser      *bool `yaml:"new_browser"`
	SecondFactor    *bool `yaml:"second_factor"`
}

// On reports whether notice n is sent.
func (ns Notices) On(n Notice) bool {
	var v *bool
	switch n {
	case NoticePasswordChanged:
		v = ns.PasswordChanged
	case NoticeEmailChanged:
		v = ns.EmailChanged
	case NoticeNewBrowser:
		v = ns.NewBrowser
	case NoticeSecondFactor:
		v = ns.SecondFactor
	default:
		return false
	}
	return v == nil || *v
}
