package accounts

import (
	"fmt"

	"github.com/gatehouse/gatehouse/models"
)

// MFARequirement is who must sign in with a second factor
// (mfa.required_for).
type MFARequirement string

// The values of mfa.required_for.
const (
	MFAForNone   MFARequirement = "none"
	MFAForAdmins MFARequirement = "admins"
	MFAForAll    MFARequirement = "all"
)

// String is the configured form.
func (r MFARequirement) String() string { return string(r) }

// MFAConfig is the mfa section of the configuration.
type MFAConfig struct {
	// RequiredFor is who must give a second factor at every sign-in: none
	// (the default), admins or all. Someone required to who has none sets
	// one up right after signing in, before anything else.
	RequiredFor MFARequirement `yaml:"required_for"`
}

// Validate fills the default and checks the value; its errors start with
// the key.
func (c *MFAConfig) Validate() error {
	switch c.RequiredFor {
	case "":
		c.RequiredFor = MFAForNone
	case MFAForNone, MFAForAdmins, MFAForAll:
	default:
		return fmt.Errorf("mfa.required_for: %q must be none, admins or all", c.RequiredFor)
	}
	return nil
}

// MFARequired reports whether u must sign in with a second factor.
func (s *Service) MFARequired(u *models.User) bool {
	switch s.MFAPolicy.RequiredFor {
	case MFAForAll:
		return true
	case MFAForAdmins:
		return u.IsAdmin
	}
	return false
}
