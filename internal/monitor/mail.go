package monitor

// The e-mail to an organisation's administrators: plain text, Dutch first,
// then English, with each failing or warning test's finding and fix.

import (
	"fmt"
	"strings"

	"github.com/veilig/veilig/internal/mailcheck"
	"github.com/veilig/veilig/internal/trust"
)

// mailWording is the fixed text of one kind of mail in one language.
type mailWording struct {
	subject, intro, why, findings, fix, none string
}

var wordings = map[string]map[string]mailWording{
	trust.KindSuspended: {
		"nl": {subject: "transportbeveiliging van %s opgeschort",
			intro: "Veilig bezorgt voorlopig geen berichten meer bij %s: de beveiliging van het mailtransport voldoet niet meer aan wat bij de toelating is vastgelegd. Berichten wachten en worden bezorgd zodra het probleem is opgelost; Veilig controleert dat zelf elk uur.",
			why:   "Reden (Engels): %s", findings: "Bevindingen:", fix: "Oplossing", none: "Geen afzonderlijke bevindingen."},
		"en": {subject: "transport security of %s suspended",
			intro: "Veilig has stopped delivering messages to %s for now: its mail transport security no longer meets what was recorded at admission. Messages wait and are delivered once the problem is fixed; Veilig checks that by itself every hour.",
			why:   "Reason: %s", findings: "Findings:", fix: "Fix", none: "No individual findings."},
	},
	trust.KindRecovered: {
		"nl": {subject: "transportbeveiliging van %s hersteld",
			intro:    "De beveiliging van het mailtransport van %s voldoet weer. Veilig bezorgt wachtende en nieuwe berichten weer.",
			findings: "Overige bevindingen:", fix: "Oplossing", none: "Geen openstaande bevindingen."},
		"en": {subject: "transport security of %s restored",
			intro:    "The mail transport security of %s meets the requirements again. Veilig delivers waiting and new messages again.",
			findings: "Remaining findings:", fix: "Fix", none: "No open findings."},
	},
	trust.KindDegraded: {
		"nl": {subject: "transportbeveiliging van %s verslechterd",
			intro: "Bij de periodieke controle van %s is de beveiliging van het mailtransport slechter dan bij de vorige controle.",
			why:   "Wat er veranderde (Engels): %s", findings: "Bevindingen:", fix: "Oplossing", none: "Geen afzonderlijke bevindingen."},
		"en": {subject: "transport security of %s degraded",
			intro: "The periodic check of %s found its mail transport security worse than at the previous check.",
			why:   "What changed: %s", findings: "Findings:", fix: "Fix", none: "No individual findings."},
	},
	trust.KindRepinned: {
		"nl": {subject: "transportbeveiliging van %s opnieuw vastgelegd",
			intro: "Een beheerder van Veilig heeft de beveiliging van het mailtransport van %s opnieuw vastgelegd na een nieuwe controle. Veilig houdt het domein voortaan aan dit beleid en bezorgt wachtende berichten.",
			why:   "Wat er veranderde (Engels): %s", findings: "Overige bevindingen:", fix: "Oplossing", none: "Geen openstaande bevindingen."},
		"en": {subject: "transport security of %s pinned anew",
			intro: "A Veilig operator has pinned the mail transport security of %s anew after a fresh check. Veilig holds the domain to this policy from now on and delivers waiting messages.",
			why:   "What changed: %s", findings: "Remaining findings:", fix: "Fix", none: "No open findings."},
	},
}

// mailFor returns the subject and text of the mail about kind for domain.
func mailFor(kind, domain, why string, r mailcheck.Report) (string, string) {
	w := wordings[kind]
	subject := "Veilig: " + fmt.Sprintf(w["nl"].subject, domain) + " / " + fmt.Sprintf(w["en"].subject, domain)
	var b strings.Builder
	for i, lang := range []string{"nl", "en"} {
		if i > 0 {
			b.WriteString("\n----------------------------------------\n\n")
		}
		writeSection(&b, w[lang], lang, domain, why, r)
	}
	return subject, b.String()
}

func writeSection(b *strings.Builder, w mailWording, lang, domain, why string, r mailcheck.Report) {
	fmt.Fprintf(b, w.intro+"\n\n", domain)
	if why != "" && w.why != "" {
		fmt.Fprintf(b, w.why+"\n\n", why)
	}
	b.WriteString(w.findings + "\n")
	n := 0
	for _, t := range r.Tests {
		if t.Status != mailcheck.StatusFail && t.Status != mailcheck.StatusWarning {
			continue
		}
		n++
		name := t.Test
		if t.Host != "" {
			name += " (" + t.Host + ")"
		}
		fmt.Fprintf(b, "- %s [%s]: %s\n", name, t.Status, t.Summary[lang])
		if fix := t.Fix[lang]; fix != "" {
			fmt.Fprintf(b, "  %s: %s\n", w.fix, fix)
		}
	}
	if n == 0 {
		b.WriteString(w.none + "\n")
	}
}
