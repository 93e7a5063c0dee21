package devmailbox

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/veilig/veilig/internal/testenv"
)

// TestPagesInChromium walks the mailbox as a newcomer would: list, item, link.
// The pages must render with no CSP violation (the inline style is allowed by
// its hash) and no other problem.
func TestPagesInChromium(t *testing.T) {
	h, _ := filled(t)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	tab := testenv.StartChromium(t).NewTab(t)

	if status, err := tab.Navigate(srv.URL + "/dev/mailbox"); err != nil || status != 200 {
		t.Fatalf("list = %d, %v", status, err)
	}
	banner, err := tab.Text(".banner")
	if err != nil || !strings.Contains(banner, "niets wordt echt verzonden") {
		t.Fatalf("banner = %q, %v", banner, err)
	}
	// The style applies only when the CSP hash matches it.
	bg, err := chromedp.Run(tab.Context(), chromedp.Evaluate[string](
		`getComputedStyle(document.querySelector('.banner')).backgroundColor`))
	if err != nil || bg != "rgb(176, 0, 32)" {
		t.Fatalf("banner background = %q, %v: the style was blocked", bg, err)
	}
	tab.Screenshot(t, "list")
	if status, err := tab.ClickNavigate(`a[href="mailbox/1"]`); err != nil || status != 200 {
		t.Fatalf("item = %d, %v", status, err)
	}
	link, err := tab.Text("pre.body a")
	if err != nil || link != "https://veilig.localhost/v/token?a=1&b=2" {
		t.Fatalf("link = %q, %v", link, err)
	}
	tab.Screenshot(t, "item")
	tab.AssertClean(t)
}
