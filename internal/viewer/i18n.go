package viewer

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/text/language"
)

// Languages: Dutch first, so it is the default (BCP 47 tags, RFC 9110 §12.5.4).
var supported = []language.Tag{language.Dutch, language.English}

const (
	langCookie = "veilig_lang"
	ctxLang    = "veilig.viewer.lang"
)

// language picks nl or en: ?lang= (remembered in a cookie), then the cookie,
// then Accept-Language, then Dutch.
func (v *Viewer) language() gin.HandlerFunc {
	matcher := language.NewMatcher(supported)
	return func(c *gin.Context) {
		lang := pickLanguage(c, matcher)
		if q := c.Query("lang"); q == "nl" || q == "en" {
			lang = q
			http.SetCookie(c.Writer, &http.Cookie{
				Name: langCookie, Value: q, Path: v.cookiePath(), MaxAge: 365 * 24 * 3600,
				Secure: v.cfg.SecureCookies, HttpOnly: true, SameSite: http.SameSiteLaxMode,
			})
		}
		c.Set(ctxLang, lang)
		c.Header("Content-Language", lang)
		c.Header("Vary", "Accept-Language, Cookie")
		c.Next()
	}
}

func pickLanguage(c *gin.Context, matcher language.Matcher) string {
	if ck, err := c.Request.Cookie(langCookie); err == nil && (ck.Value == "nl" || ck.Value == "en") {
		return ck.Value
	}
	tags, _, err := language.ParseAcceptLanguage(c.GetHeader("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return "nl"
	}
	_, idx, conf := matcher.Match(tags...)
	if conf == language.No || idx != 1 {
		return "nl"
	}
	return "en"
}

func langOf(c *gin.Context) string {
	if c.GetString(ctxLang) == "en" {
		return "en"
	}
	return "nl"
}

// dictionary maps a message key to a fmt format.
type dictionary map[string]string

// translate formats key in d; a missing key shows the key (tests keep both
// languages complete).
func (d dictionary) translate(key string, args ...any) string {
	f, ok := d[key]
	if !ok {
		return key
	}
	if len(args) == 0 {
		return f
	}
	return fmt.Sprintf(f, args...)
}

var monthsNL = [...]string{"januari", "februari", "maart", "april", "mei", "juni", "juli",
	"augustus", "september", "oktober", "november", "december"}

// formatDate writes t as "2 januari 2026, 14:05" or "2 January 2026, 14:05".
func formatDate(lang string, t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(loc)
	if lang == "nl" {
		return fmt.Sprintf("%d %s %d, %s", t.Day(), monthsNL[t.Month()-1], t.Year(), t.Format("15:04"))
	}
	return t.Format("2 January 2006, 15:04")
}

// formatSize writes n bytes for people: "12 kB", "3,4 MB" / "3.4 MB".
func formatSize(lang string, n int64) string {
	if n < 0 {
		return ""
	}
	var s string
	switch {
	case n < 1000:
		s = fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		s = fmt.Sprintf("%d kB", (n+500)/1000)
	default:
		s = fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	if lang == "nl" {
		s = replaceDot(s)
	}
	return s
}

func replaceDot(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == '.' {
			b[i] = ','
		}
	}
	return string(b)
}

// messages holds every user-facing string in both languages.
var messages = map[string]dictionary{"nl": nl, "en": en}

var nl = dictionary{
	"brand":           "Veilig",
	"skip":            "Naar de inhoud",
	"other_lang":      "English",
	"other_lang_code": "en",
	"logout":          "Uitloggen",
	"continue_title":  "Bericht openen",
	"continue_text":   "U wordt doorgestuurd naar het bericht. Gebeurt dat niet, kies dan Doorgaan.",
	"continue":        "Doorgaan",
	"from":            "Van",
	"expires":         "Beschikbaar tot",
	"request_title":   "Beveiligd bericht",
	"request_intro":   "U heeft een beveiligd bericht ontvangen.",
	"request_text":    "Om het bericht te lezen sturen we een eenmalige code per sms naar %s.",
	"request_button":  "Stuur mij een code",
	"verify_title":    "Code invoeren",
	"verify_text":     "We hebben een code per sms gestuurd naar %s.",
	"code_label":      "Code uit de sms",
	"code_hint":       "Alleen cijfers. De code is korte tijd geldig.",
	"verify_button":   "Bericht openen",
	"resend_text":     "Geen sms ontvangen?",
	"resend_button":   "Stuur een nieuwe code",
	"err_code_format": "Vul de code uit de sms in; die bestaat alleen uit cijfers.",

	"request_text_email":    "Om het bericht te lezen sturen we een eenmalige code per e-mail naar uw e-mailadres.",
	"verify_text_email":     "We hebben een code per e-mail gestuurd naar uw e-mailadres.",
	"code_label_email":      "Code uit de e-mail",
	"resend_text_email":     "Geen e-mail ontvangen? Kijk ook bij uw ongewenste e-mail.",
	"err_code_format_email": "Vul de code uit de e-mail in; die bestaat alleen uit cijfers.",
	"err_wrong_code":        "Deze code klopt niet. U kunt het nog %d keer proberen.",
	"err_code_expired":      "Deze code is verlopen of al gebruikt. Vraag een nieuwe code aan.",
	"error_prefix":          "Fout:",
	"no_subject":            "(geen onderwerp)",
	"date":                  "Datum",
	"remote_blocked":        "Externe afbeeldingen in dit bericht zijn geblokkeerd om uw privacy te beschermen.",
	"attachments":           "Bijlagen",
	"download":              "Download %s",
	"reply_title":           "Beveiligd antwoorden",
	"reply_intro":           "Uw antwoord gaat beveiligd naar %s.",
	"reply_text_label":      "Uw antwoord",
	"reply_files_label":     "Bijlagen (niet verplicht)",
	"reply_files_hint":      "Alles samen maximaal %s.",
	"reply_button":          "Antwoord versturen",
	"reply_sent":            "Uw antwoord is beveiligd verstuurd.",
	"replied_before":        "U heeft al eerder op dit bericht geantwoord.",
	"err_reply_invalid":     "Uw antwoord is niet verstuurd. Schrijf een tekst en controleer de bijlagen.",
	"newlink_requested":     "We hebben de afzender gevraagd u een nieuwe link te sturen.",
	"newlink_button":        "Vraag de afzender om een nieuwe link",

	"unknown_title":     "Link niet gevonden",
	"unknown_body":      "Deze link bestaat niet. Controleer of u de volledige link uit de e-mail heeft gebruikt.",
	"withdrawn_title":   "Bericht ingetrokken",
	"withdrawn_body":    "De afzender heeft dit bericht ingetrokken. Neem contact op met de afzender als u vragen heeft.",
	"expired_title":     "Link verlopen",
	"expired_body":      "Deze link is niet meer geldig. U kunt de afzender vragen u een nieuwe link te sturen.",
	"locked_title":      "Toegang geblokkeerd",
	"locked_body":       "Er is te vaak een verkeerde code ingevuld. Neem contact op met de afzender: die kan de toegang weer vrijgeven.",
	"nosession_title":   "Sessie beëindigd",
	"nosession_body":    "Uw sessie is verlopen of beëindigd. Open de link uit de e-mail opnieuw.",
	"limited_title":     "Even geduld",
	"limited_body":      "Het is te vaak geprobeerd. Probeer het over %d minuten opnieuw.",
	"forbidden_title":   "Verzoek geweigerd",
	"forbidden_body":    "Dit verzoek kon niet worden gecontroleerd. Open de link uit de e-mail opnieuw en probeer het nog eens.",
	"toolarge_title":    "Antwoord te groot",
	"toolarge_body":     "Uw antwoord met bijlagen is groter dan %s. Verklein de bijlagen en probeer het opnieuw.",
	"notfound_title":    "Niet gevonden",
	"notfound_body":     "Deze bijlage bestaat niet.",
	"unavailable_title": "Code nu niet verstuurd",
	"unavailable_body":  "De code kon nu niet worden verstuurd. Er is niets verbruikt: probeer het over een minuut opnieuw.",
	"error_title":       "Er ging iets mis",
	"error_body":        "Er ging aan onze kant iets mis. Probeer het later opnieuw.",
	"loggedout_title":   "Uitgelogd",
	"loggedout_body":    "U bent uitgelogd. Open de link uit de e-mail opnieuw om het bericht weer te lezen.",
	"back":              "Terug naar het bericht",
}

var en = dictionary{
	"brand":           "Veilig",
	"skip":            "Skip to content",
	"other_lang":      "Nederlands",
	"other_lang_code": "nl",
	"logout":          "Log out",
	"continue_title":  "Opening message",
	"continue_text":   "You are being taken to the message. If nothing happens, choose Continue.",
	"continue":        "Continue",
	"from":            "From",
	"expires":         "Available until",
	"request_title":   "Secure message",
	"request_intro":   "You have received a secure message.",
	"request_text":    "To read the message we send a one-time code by text message to %s.",
	"request_button":  "Send me a code",
	"verify_title":    "Enter code",
	"verify_text":     "We have sent a code by text message to %s.",
	"code_label":      "Code from the text message",
	"code_hint":       "Digits only. The code is valid for a short time.",
	"verify_button":   "Open message",
	"resend_text":     "No text message received?",
	"resend_button":   "Send a new code",
	"err_code_format": "Enter the code from the text message; it consists of digits only.",

	"request_text_email":    "To read the message we send a one-time code by e-mail to your e-mail address.",
	"verify_text_email":     "We have sent a code by e-mail to your e-mail address.",
	"code_label_email":      "Code from the e-mail",
	"resend_text_email":     "No e-mail received? Also check your junk mail.",
	"err_code_format_email": "Enter the code from the e-mail; it consists of digits only.",
	"err_wrong_code":        "This code is not correct. You have %d tries left.",
	"err_code_expired":      "This code has expired or has already been used. Request a new code.",
	"error_prefix":          "Error:",
	"no_subject":            "(no subject)",
	"date":                  "Date",
	"remote_blocked":        "Remote images in this message were blocked to protect your privacy.",
	"attachments":           "Attachments",
	"download":              "Download %s",
	"reply_title":           "Reply securely",
	"reply_intro":           "Your reply is sent securely to %s.",
	"reply_text_label":      "Your reply",
	"reply_files_label":     "Attachments (optional)",
	"reply_files_hint":      "At most %s in total.",
	"reply_button":          "Send reply",
	"reply_sent":            "Your reply has been sent securely.",
	"replied_before":        "You have already replied to this message.",
	"err_reply_invalid":     "Your reply was not sent. Write a text and check the attachments.",
	"newlink_requested":     "We have asked the sender to send you a new link.",
	"newlink_button":        "Ask the sender for a new link",

	"unknown_title":     "Link not found",
	"unknown_body":      "This link does not exist. Check that you used the complete link from the e-mail.",
	"withdrawn_title":   "Message withdrawn",
	"withdrawn_body":    "The sender has withdrawn this message. Contact the sender if you have questions.",
	"expired_title":     "Link expired",
	"expired_body":      "This link is no longer valid. You can ask the sender to send you a new link.",
	"locked_title":      "Access locked",
	"locked_body":       "A wrong code was entered too often. Contact the sender: they can unlock access.",
	"nosession_title":   "Session ended",
	"nosession_body":    "Your session has expired or ended. Open the link from the e-mail again.",
	"limited_title":     "Please wait",
	"limited_body":      "There were too many attempts. Try again in %d minutes.",
	"forbidden_title":   "Request refused",
	"forbidden_body":    "This request could not be verified. Open the link from the e-mail again and retry.",
	"toolarge_title":    "Reply too large",
	"toolarge_body":     "Your reply with attachments is larger than %s. Make the attachments smaller and try again.",
	"notfound_title":    "Not found",
	"notfound_body":     "This attachment does not exist.",
	"unavailable_title": "Code not sent yet",
	"unavailable_body":  "The code could not be sent just now. Nothing was used up: please try again in a minute.",
	"error_title":       "Something went wrong",
	"error_body":        "Something went wrong on our side. Please try again later.",
	"loggedout_title":   "Logged out",
	"loggedout_body":    "You have been logged out. Open the link from the e-mail again to read the message.",
	"back":              "Back to the message",
}
