package testop

import (
	"bytes"
	"cmp"
	"html/template"
	"net/http"
	"net/url"
	"strings"
)

// pages holds the provider's HTML. It uses no script and only an inline
// <style>, matching the Content-Security-Policy sent with it.
var pages = template.Must(template.New("").Parse(`
{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.}} · testop</title>
<style>
body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#222}
button{display:block;width:100%;margin:.5rem 0;padding:.75rem 1rem;text-align:left;font:inherit;
 border:1px solid #bbb;border-radius:.5rem;background:#fff;cursor:pointer}
button:hover,button:focus{background:#f0f4ff}
button.hint{border:2px solid #2563eb}
small{color:#666}
</style></head><body>{{end}}

{{define "picker"}}{{template "head" "Sign in"}}
<h1>Demo identity provider</h1>
<p>Sign in to <strong>{{.Client}}</strong> as:</p>
<form method="post" action="/authorize">
{{range $k, $vs := .Params}}{{range $vs}}<input type="hidden" name="{{$k}}" value="{{.}}">
{{end}}{{end}}
{{range .Users}}<button type="submit" name="subject" value="{{.Subject}}"{{if .Hinted}} class="hint" autofocus{{end}}>
{{or .Name .Subject}}<br><small>{{.Email}}</small></button>
{{else}}<p>No demo users are configured.</p>{{end}}
<button type="submit" name="deny" value="1">Deny<br><small>refuse to sign in: {{.Client}} gets error=access_denied</small></button>
</form></body></html>{{end}}

{{define "home"}}{{template "head" "Demo identity provider"}}
<h1>Demo identity provider</h1>
<p>Issuer: <code>{{.Issuer}}</code><br>
<small>Discovery: <code>{{.Issuer}}/.well-known/openid-configuration</code></small></p>
<p>Anyone can sign in, without a password, as:</p>
<ul>
{{range .Users}}<li>{{or .Name .Subject}}<br><small>{{.Email}} (sub {{.Subject}})</small></li>
{{else}}<li>nobody: no demo users are configured.</li>{{end}}
</ul>
<p>The sign-in page an app sends you to lists them as buttons, and has a
<strong>Deny</strong> button that sends you back with
<code>error=access_denied</code>, to try the app's error path.</p>
</body></html>{{end}}

{{define "message"}}{{template "head" .Title}}
<h1>{{.Title}}</h1><p>{{.Text}}</p></body></html>{{end}}
`))

// pickerUser is one button on the demo page.
type pickerUser struct {
	Subject, Name, Email string
	Hinted               bool
}

// renderPicker shows the demo page listing the users. The buttons POST the
// original request back to /authorize; login_hint (OIDC Core §3.1.2.1)
// highlights the user with that email or subject.
func (p *Provider) renderPicker(w http.ResponseWriter, r *http.Request, q url.Values, client Client) {
	params := cloneValues(q)
	params.Del("subject")
	hint := q.Get("login_hint")
	users := make([]pickerUser, len(p.users))
	for i, u := range p.users {
		hinted := hint != "" && (strings.EqualFold(hint, u.Email) || hint == u.Subject)
		users[i] = pickerUser{Subject: u.Subject, Name: u.Name, Email: u.Email, Hinted: hinted}
	}
	data := struct {
		Client string
		Params url.Values
		Users  []pickerUser
	}{cmp.Or(client.Name, client.ID), params, users}
	p.render(w, http.StatusOK, "picker", data)
}

// handleHome shows what the provider is for at its root URL, the address
// people open first: its issuer and who they can sign in as.
func (p *Provider) handleHome(w http.ResponseWriter, r *http.Request) {
	users := make([]pickerUser, len(p.users))
	for i, u := range p.users {
		users[i] = pickerUser{Subject: u.Subject, Name: u.Name, Email: u.Email}
	}
	p.render(w, http.StatusOK, "home", struct {
		Issuer string
		Users  []pickerUser
	}{p.issuer, users})
}

// errorPage shows an error to the user instead of redirecting, for requests
// whose client or redirect URI cannot be trusted.
func (p *Provider) errorPage(w http.ResponseWriter, status int, msg string) {
	p.log.Debug("testop: error page", "status", status, "message", msg)
	p.message(w, status, "Request rejected", msg)
}

// message renders a simple title + text page.
func (p *Provider) message(w http.ResponseWriter, status int, title, text string) {
	p.render(w, status, "message", struct{ Title, Text string }{title, text})
}

// render executes a page template into w with CSP-friendly headers.
func (p *Provider) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		p.log.Error("testop: render page", "page", name, "err", err)
		http.Error(w, "testop: internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
