package mimeread

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// crlf turns the LF line endings of a fixture into CRLF.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

const outlookNested = `DKIM-Signature: v=1; a=rsa-sha256; d=gemeente.example; s=sel;
	h=From:To:Subject; bh=abc=; b=def=
From: "Dijk, Ingrid van" <ingrid@gemeente.example>
To: <piet@ede.example>
Subject: =?windows-1252?Q?Uitnodiging_overleg_=96_caf=E9?=
Date: Tue, 3 Mar 2026 10:00:00 +0100
Message-ID: <AM0PR01MB@outlook.example>
Content-Type: multipart/mixed;
	boundary="_004_AM0PR01MB_"
MIME-Version: 1.0

--_004_AM0PR01MB_
Content-Type: multipart/related;
	boundary="_003_AM0PR01MB_";
	type="multipart/alternative"

--_003_AM0PR01MB_
Content-Type: multipart/alternative;
	boundary="_000_AM0PR01MB_"

--_000_AM0PR01MB_
Content-Type: text/plain; charset="windows-1252"
Content-Transfer-Encoding: quoted-printable

Beste Piet,

Tot morgen in het caf=E9. Kosten =80 10,=
 per persoon.

--_000_AM0PR01MB_
Content-Type: text/html; charset="windows-1252"
Content-Transfer-Encoding: quoted-printable

<html><body><p>Tot morgen in het caf=E9.</p><img src=3D"cid:image001.png@01D=
A"></body></html>

--_000_AM0PR01MB_--

--_003_AM0PR01MB_
Content-Type: image/png; name="image001.png"
Content-Description: image001.png
Content-Disposition: inline; filename="image001.png"; size=4;
	creation-date="Tue, 03 Mar 2026 09:00:00 GMT"
Content-ID: <image001.png@01DA>
Content-Transfer-Encoding: base64

iVBORw==

--_003_AM0PR01MB_--

--_004_AM0PR01MB_
Content-Type: application/pdf; name="Agenda.pdf"
Content-Description: Agenda.pdf
Content-Disposition: attachment; filename="Agenda.pdf"; size=8
Content-Transfer-Encoding: base64

JVBERi0xLjcK

--_004_AM0PR01MB_--
`

const appleAlternativeRelated = `From: piet@ede.example
Subject: Foto
Content-Type: multipart/alternative; boundary="Apple-Mail=_1"

--Apple-Mail=_1
Content-Transfer-Encoding: 7bit
Content-Type: text/plain; charset=us-ascii

Zie foto.
--Apple-Mail=_1
Content-Type: multipart/related; type="text/html"; boundary="Apple-Mail=_2"

--Apple-Mail=_2
Content-Transfer-Encoding: 7bit
Content-Type: text/html; charset=us-ascii

<p>Zie foto <img src="cid:F1"></p>
--Apple-Mail=_2
Content-Transfer-Encoding: base64
Content-Type: image/jpeg; name="IMG 1.jpg"
Content-Id: <F1>

/9j/
--Apple-Mail=_2--
--Apple-Mail=_1--
`

const continuedFilename = `From: a@b.example
Subject: RFC 2231
Content-Type: multipart/mixed; boundary=XYZ

--XYZ
Content-Type: text/plain

body
--XYZ
Content-Type: application/octet-stream
Content-Disposition: attachment;
 filename*0*=iso-8859-1''Beschikking%20caf%E9;
 filename*1*=%20deel%202;
 filename*2=".pdf"
Content-Transfer-Encoding: base64

AAEC
--XYZ
Content-Type: application/octet-stream;
 name*0*=utf-8''%C3%A9%C3%A9n;
 name*1=".txt"
Content-Transfer-Encoding: 7bit

een
--XYZ
Content-Type: application/octet-stream; name="=?utf-8?B?w6nDqW4=?= twee.txt"

twee
--XYZ--
`

const forwardedMessage = `From: piet@ede.example
Subject: Fwd: offerte
Content-Type: multipart/mixed; boundary="fw"

--fw
Content-Type: text/plain; charset=utf-8

Zie hieronder.
--fw
Content-Type: message/rfc822

From: leverancier@bedrijf.example
Subject: Re: Offerte =?utf-8?Q?=E2=82=AC?=1000
Content-Type: multipart/mixed; boundary="inner"

--inner
Content-Type: text/plain

binnenste tekst
--inner
Content-Type: application/pdf; name="inner.pdf"
Content-Transfer-Encoding: base64

AAAA
--inner--
--fw
Content-Type: message/rfc822

Subject:

leeg
--fw--
`

const latin1NoContentType = "From: oud@systeem.example\nSubject: caf\xe9\n\nGeen MIME, wel caf\xe9.\n"

const flowed = `From: a@b.example
Subject: flowed
Content-Type: text/plain; charset=utf-8; format=flowed; delsp=no

Dit is een lange alinea die over meerdere 
regels is verdeeld door 
Thunderbird.
> Geciteerd 
> vervolg
 >Gestuft
-- 
Piet
`

var quirks = "From: a@b.example\n" +
	"Subject: =?utf-8?B?w6k=?= =?utf-8?B?w6k?=\n" +
	"Content-Type: multipart/mixed; boundary=----=_Part_0_1.2\n" +
	"\n" +
	"preamble\n" +
	"------=_Part_0_1.2  \n" +
	"Content-Type: text/plain; charset=\"iso-8859-1\"\n" +
	"Content-Transfer-Encoding: quoted-printable\n" +
	"\n" +
	"caf=e9 =3d =ZZ and a very long line " + strings.Repeat("x", 5000) + "=\n" +
	"end\n" +
	"------=_Part_0_1.2\n" +
	"Content-Type: image/gif\n" +
	"Content-Transfer-Encoding: base64\n" +
	"\n" +
	"R0lG ODlh\n" +
	"AQ\n" +
	"------=_Part_0_1.2\n" +
	"Content-Type: text/html\n" +
	"\n" +
	"<p>no closing boundary</p>\n"

const digest = `From: list@lijst.example
Subject: digest
Content-Type: multipart/digest; boundary=d

--d

Subject: eerste

een
--d
Content-Type: text/plain

geen bericht
--d--
`

func TestFixtures(t *testing.T) {
	tests := []struct {
		name        string
		raw         string
		want        Content
		attachments []wantAttachment
	}{
		{"outlook nested related/alternative", crlf(outlookNested), Content{
			Subject: "Uitnodiging overleg – café", From: "Dijk, Ingrid van <ingrid@gemeente.example>",
			To: "piet@ede.example", Date: time.Date(2026, 3, 3, 10, 0, 0, 0, time.FixedZone("", 3600)),
			MessageID: "<AM0PR01MB@outlook.example>",
			Text:      "Beste Piet,\n\nTot morgen in het café. Kosten € 10, per persoon.\n",
			HTML:      "<html><body><p>Tot morgen in het café.</p><img src=\"cid:image001.png@01DA\"></body></html>\n",
		}, []wantAttachment{
			{Attachment{Index: 0, Name: "image001.png", ContentType: "image/png", Inline: true,
				ContentID: "image001.png@01DA"}, []byte("\x89PNG")},
			{Attachment{Index: 1, Name: "Agenda.pdf", ContentType: "application/pdf"}, []byte("%PDF-1.7\n")},
		}},
		{"apple alternative with related html (bare LF)", appleAlternativeRelated, Content{
			Subject: "Foto", From: "piet@ede.example", Text: "Zie foto.", HTML: "<p>Zie foto <img src=\"cid:F1\"></p>",
		}, []wantAttachment{
			{Attachment{Index: 0, Name: "IMG 1.jpg", ContentType: "image/jpeg", Inline: true, ContentID: "F1"},
				[]byte{0xff, 0xd8, 0xff}},
		}},
		{"rfc 2231 continued filenames", crlf(continuedFilename), Content{
			Subject: "RFC 2231", From: "a@b.example", Text: "body",
		}, []wantAttachment{
			{Attachment{Index: 0, Name: "Beschikking café deel 2.pdf", ContentType: "application/octet-stream"},
				[]byte{0, 1, 2}},
			{Attachment{Index: 1, Name: "één.txt", ContentType: "application/octet-stream"}, []byte("een")},
			{Attachment{Index: 2, Name: "één twee.txt", ContentType: "application/octet-stream"}, []byte("twee")},
		}},
		{"message/rfc822 attachment", crlf(forwardedMessage), Content{
			Subject: "Fwd: offerte", From: "piet@ede.example", Text: "Zie hieronder.",
		}, []wantAttachment{
			{Attachment{Index: 0, Name: "Re_ Offerte €1000.eml", ContentType: "message/rfc822"},
				[]byte(crlf(forwardedMessage[strings.Index(forwardedMessage, "From: leverancier"):strings.Index(forwardedMessage, "\n--fw\nContent-Type: message/rfc822\n\nSubject:")]))},
			{Attachment{Index: 1, Name: "message.eml", ContentType: "message/rfc822"}, []byte("Subject:\r\n\r\nleeg")},
		}},
		{"missing content-type, latin-1", latin1NoContentType, Content{
			Subject: "café", From: "oud@systeem.example", Text: "Geen MIME, wel café.\n",
		}, nil},
		{"format=flowed", crlf(flowed), Content{
			Subject: "flowed", From: "a@b.example",
			Text: "Dit is een lange alinea die over meerdere regels is verdeeld door Thunderbird.\n" +
				"> Geciteerd vervolg\n>Gestuft\n-- \nPiet\n",
		}, nil},
		{"quirks: unquoted boundary, qp, base64 padding, no close", quirks, Content{
			Subject: "éé", From: "a@b.example",
			Text: "café = =ZZ and a very long line " + strings.Repeat("x", 5000) + "end",
			HTML: "<p>no closing boundary</p>\n",
		}, []wantAttachment{
			{Attachment{Index: 0, Name: "attachment.gif", ContentType: "image/gif"}, []byte("GIF89a\x01")},
		}},
		{"digest", crlf(digest), Content{Subject: "digest", From: "list@lijst.example", Text: "geen bericht"},
			[]wantAttachment{
				{Attachment{Index: 0, Name: "eerste.eml", ContentType: "message/rfc822"}, []byte("Subject: eerste\r\n\r\neen")},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustRead(t, []byte(tt.raw), Limits{})
			want := tt.want
			for i, a := range tt.attachments {
				a.Size = int64(len(a.Data))
				tt.attachments[i] = a
				want.Attachments = append(want.Attachments, a.Attachment)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Read (-want +got):\n%s", diff)
			}
			checkAttachments(t, []byte(tt.raw), tt.attachments)
		})
	}
}
