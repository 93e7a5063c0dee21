package search

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestAnalyse(t *testing.T) {
	type want struct {
		Canon, First, Email string
		Tokens, Exact       []string
	}
	tests := []struct {
		name string
		rec  Record
		want want
	}{{
		name: "person with hyphens, apostrophe and sub-address",
		rec:  Record{Kind: KindPerson, Name: "Jan-Willem van ’t Hof", Email: "JW.van-t-Hof+post@Gemeente-Utrecht.nl"},
		want: want{
			Canon: "jan-willem van t hof", First: "jan-willem", Email: "jw.van-t-hof+post@gemeente-utrecht.nl",
			// "hof", "t" and "van" are prefixes of other tokens and dropped.
			Tokens: []string{"hof+post", "jan-willem", "jw.van-t-hof+post", "post", "t-hof+post", "van-t-hof+post", "willem"},
			Exact:  []string{"jan-willem van t hof"},
		},
	}, {
		name: "organisation with ligature, IDN and sub-domain",
		rec: Record{Kind: KindOrganisation, Name: "Gemeente 's-Hertogenbosch",
			Domains: []string{"s-hertogenbosch.nl", "mail.Gemeente-Utrecht.nl.", "xn--zo-ija.nl"}},
		want: want{
			Canon: "gemeente s-hertogenbosch", First: "gemeente",
			Tokens: []string{"gemeente-utrecht.nl", "hertogenbosch.nl", "mail.gemeente-utrecht.nl",
				"s-hertogenbosch.nl", "utrecht.nl", "xn--zo-ija.nl", "zoe.nl"},
			Exact: []string{"gemeente s-hertogenbosch", "s-hertogenbosch.nl", "s-hertogenbosch",
				"mail.gemeente-utrecht.nl", "mail.gemeente-utrecht", "zoe.nl", "xn--zo-ija.nl", "zoe"},
		},
	}, {
		name: "domain that is a public suffix",
		rec:  Record{Kind: KindOrganisation, Name: "Ĳssel BV", Domains: []string{"co.uk"}},
		want: want{
			Canon: "ijssel bv", First: "ijssel",
			Tokens: []string{"bv", "co.uk", "ijssel"},
			Exact:  []string{"ijssel bv", "co.uk"},
		},
	}, {
		name: "no name",
		rec:  Record{Kind: KindPerson, Email: "info@x.example"},
		want: want{Email: "info@x.example", Tokens: []string{"info"}},
	}, {
		name: "garbage",
		rec:  Record{Kind: KindPerson, Name: "🙂🙂 --- ???", Email: "@", Domains: []string{"", "."}},
		want: want{},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a terms
			a.analyse(&tt.rec)
			got := want{a.canon, a.first, a.email, reduce(a.tokens), a.exact}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("analyse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReduce(t *testing.T) {
	got := reduce([]string{"jansen", "jan", "j", "jan", "vries", "de", "devries", "d"})
	want := []string{"devries", "jansen", "vries"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reduce (-want +got):\n%s", diff)
	}
}
