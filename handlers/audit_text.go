package handlers

// The audit log as people read it: each event as a sentence ("ann@example.com
// was disabled by root@example.com") and its time relative to the handler's
// clock ("3 minutes ago"), with the exact UTC time kept for hover and the
// event code kept beside the sentence. The CSV export keeps the raw values.

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/models"
)

// describeRows fills each row's Sentence and Ago, at now.
func (h *Handler) describeRows(rows []auditRow, now time.Time) []auditRow {
	for i := range rows {
		r := &rows[i]
		provider := ""
		if r.Provider != "" {
			provider = h.SSO.Name(r.Provider)
		}
		r.ProviderName = provider
		r.Sentence = eventSentence(r, provider)
		r.Ago = relativeTime(now, r.at)
		var facts []string
		for _, f := range []string{r.Method, provider, r.Detail} {
			if f != "" {
				facts = append(facts, f)
			}
		}
		r.Facts = strings.Join(facts, " · ")
	}
	return rows
}

// who names an account in a sentence: its email as recorded, its current
// email, or its number.
func who(email, current string, id int64) string {
	switch {
	case email != "":
		return email
	case current != "":
		return current
	case id != 0:
		return "account #" + strconv.FormatInt(id, 10)
	}
	return "someone"
}

// eventSentence is one event as a sentence.
func eventSentence(r *auditRow, provider string) string {
	target := who(r.Email, r.UserEmail, r.UserID)
	actor := who("", r.ActorEmail, r.ActorID)
	byOther := r.ActorID != 0 && r.ActorID != r.UserID
	by := ""
	if byOther {
		by = " by " + actor
	}
	with := "with a password"
	switch {
	case r.method == models.MethodPasskey:
		with = "with a passkey"
	case r.method == models.MethodSSO && provider != "":
		with = "with " + provider
	case r.method == models.MethodSSO:
		with = "with single sign-on"
	}
	prov := provider
	if prov == "" {
		prov = "a sign-in provider"
	}
	switch models.EventKind(r.Kind) {
	case models.EventLoginSuccess:
		return target + " signed in " + with
	case models.EventLoginFailure:
		if r.Email == "" && r.UserID == 0 {
			return "A sign-in " + with + " failed"
		}
		return "A sign-in as " + target + " " + with + " failed"
	case models.EventLogout:
		return target + " signed out"
	case models.EventBackchannel:
		return prov + " signed " + target + " out"
	case models.EventReauth:
		return target + " confirmed their identity " + with
	case models.EventReauthFailure:
		return target + " failed to confirm their identity " + with
	case models.EventUserCreated:
		if !byOther {
			return target + " was created at their first sign-in " + with
		}
		return target + " was created" + by
	case models.EventUserUpdated:
		return target + " was changed" + by
	case models.EventUserDisabled:
		return target + " was disabled" + by
	case models.EventUserEnabled:
		return target + " was enabled" + by
	case models.EventUserDeleted:
		return target + " was deleted" + by
	case models.EventPasswordSet:
		if !byOther {
			return target + " set a new password"
		}
		return "The password of " + target + " was set" + by
	case models.EventPasswordRemoved:
		if !byOther {
			return target + " removed their password"
		}
		return "The password of " + target + " was removed" + by
	case models.EventIdentityLinked:
		return prov + " was linked to " + target + by
	case models.EventIdentityUnlinked:
		return prov + " was unlinked from " + target + by
	case models.EventLinkFailure:
		return "Linking " + prov + " to " + target + " failed"
	case models.EventLinkCancelled:
		return "Linking " + prov + " to " + target + " was cancelled"
	case models.EventSessionRevoked:
		if !byOther {
			return target + " ended a session"
		}
		return "A session of " + target + " was ended" + by
	case models.EventProfileUpdated:
		return target + " updated their profile"
	case models.EventPasswordChangeFailure:
		return target + " failed to change their password"
	case models.EventPasswordResetRequested:
		return "A password reset was requested for " + target
	case models.EventPasswordResetCompleted:
		return target + " set a new password with a reset link"
	case models.EventInvitationSent:
		return target + " was invited" + by
	case models.EventInvitationLinked:
		return "An invitation link for " + target + " was made" + by
	case models.EventInvitationAccepted:
		return target + " accepted their invitation"
	case models.EventEmailVerifyRequest:
		return "A confirmation link was sent to " + target
	case models.EventEmailVerified:
		return target + " confirmed their email address"
	case models.EventEmailChangeRequest:
		return target + " asked to change their email address"
	case models.EventEmailChanged:
		return target + " changed their email address"
	case models.EventMFAEnrolled:
		if strings.HasPrefix(r.Detail, "passkey") {
			return target + " added a passkey"
		}
		return target + " set up an authenticator app"
	case models.EventMFARemoved:
		switch {
		case !byOther && strings.HasPrefix(r.Detail, "passkey"):
			return target + " removed a passkey"
		case !byOther && strings.HasPrefix(r.Detail, "authenticator app"):
			return target + " removed their authenticator app"
		case !byOther:
			return target + " turned off two-factor sign-in"
		}
		return "Two-factor sign-in of " + target + " was reset" + by
	case models.EventMFARecoveryUsed:
		return target + " signed in with a recovery code"
	case models.EventMFARecoveryCodes:
		return target + " made new recovery codes"
	case models.EventMFAFailure:
		return target + " gave a wrong second factor"
	case models.EventIdentityRekeyed:
		return "A sign-in of " + target + " was re-keyed: " + r.Detail
	case models.EventBreakGlass:
		return target + " used the break-glass password sign-in"
	case models.EventAdminGranted:
		return target + " became an administrator through " + or(r.Detail, prov)
	case models.EventAdminRevoked:
		return target + " stopped being an administrator: " + or(r.Detail, prov)
	case models.EventMailRetried:
		return "An undelivered message to " + target + " was queued again" + by
	}
	return fmt.Sprintf("%s (%s)", r.Kind, target)
}

// relativeTime says how long before now t was: "just now", "3 minutes
// ago", "2 hours ago", "5 days ago", and past 30 days the date itself.
func relativeTime(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit + " ago"
		}
		return strconv.Itoa(n) + " " + unit + "s ago"
	}
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 24*time.Hour:
		return plural(int(d/time.Hour), "hour")
	case d < 30*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day")
	}
	return formatWhen(&t)
}
