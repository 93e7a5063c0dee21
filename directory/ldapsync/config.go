package ldapsync

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Presets name a directory schema: which entries are organisations and people,
// and which attributes hold their fields.
const (
	PresetOpenLDAP = "openldap"
	PresetAD       = "ad"
)

// Defaults.
const (
	DefaultPageSize = 1000
	DefaultTimeout  = 30 * time.Second
	adMaxPageSize   = 1000 // Active Directory's default MaxPageSize
)

// Config says where the directory is and how to read it. Attribute fields may
// list fallbacks separated by commas ("displayName,cn": the first attribute
// with a value wins). Empty fields take the preset's value.
type Config struct {
	URL          string // ldaps://host[:port], or ldap://host[:port] with StartTLS; empty disables LDAP (Import still works)
	StartTLS     bool   // upgrade ldap:// with StartTLS (RFC 4513 §3); required for ldap:// except to a loopback address
	CAFile       string // PEM bundle of trusted CAs; empty means the system roots
	BindDN       string // read-only service account; empty binds anonymously
	BindPassword string
	BaseDN       string // subtree that holds the organisations and their people
	Preset       string // PresetOpenLDAP (default) or PresetAD

	OrgFilter    string // LDAP filter (RFC 4515) selecting organisations
	PersonFilter string // LDAP filter selecting people

	OrgNameAttr        string
	OrgDomainsAttr     string // multi-valued: the organisation's mail domains
	OrgDescriptionAttr string
	OrgOINAttr         string // Organisatie-identificatienummer; no default
	OrgKvKAttr         string // Kamer van Koophandel number; no default
	PersonNameAttr     string
	PersonMailAttr     string
	PersonDeptAttr     string
	IDAttr             string // stable entry id: entryUUID (OpenLDAP), objectGUID (AD)

	PageSize int           // RFC 2696 page size; default 1000, at most 1000 for AD
	Timeout  time.Duration // per LDAP operation (connect, bind, one page); default 30s

	// Incremental chooses how Sync finds changes: IncrementalAuto (default),
	// IncrementalPoll or IncrementalOff.
	Incremental string
}

// Incremental sync modes (Config.Incremental).
const (
	// IncrementalAuto uses RFC 4533 content sync where the server offers it
	// (OpenLDAP with syncprov), else change-counter polling: modifyTimestamp on
	// OpenLDAP, uSNChanged on Active Directory.
	IncrementalAuto = ""
	// IncrementalPoll polls the change counter even where content sync is offered.
	IncrementalPoll = "poll"
	// IncrementalOff makes every sync a full one.
	IncrementalOff = "off"
)

// Change counters polled by the incremental sync.
const (
	attrTimestamp = "modifyTimestamp" // RFC 4512 §3.4: GeneralizedTime, one-second resolution
	attrUSN       = "uSNChanged"      // Active Directory update sequence number (MS-ADTS §3.1.1.1.9)
)

// preset is the schema mapping of a directory product.
type preset struct {
	orgFilter, personFilter                    string
	orgName, orgDomains, orgDescription        string
	personName, personMail, personDept, idAttr string
	contentSync                                bool   // RFC 4533 content sync with a cookie
	pollAttr                                   string // change counter for polling
}

// Active Directory mapping (PresetAD):
//
//   - organisations are organizationalUnit objects that carry the RFC 1274
//     associatedDomain attribute (domainRelatedObject auxiliary class, in the AD
//     schema since Windows Server 2003 R2): name from ou, domains from
//     associatedDomain, description from description;
//   - people are enabled mail-enabled user accounts,
//     (&(objectCategory=person)(objectClass=user)(mail=*)) minus those with the
//     ACCOUNTDISABLE bit (2) of userAccountControl, matched with the bitwise-AND
//     rule 1.2.840.113556.1.4.803; name from displayName then cn, mail from mail,
//     department from department;
//   - the stable id is objectGUID, written as a UUID string in the byte order
//     Windows shows it;
//   - pages are at most 1000 entries (AD's MaxPageSize).
//
// The incremental sync polls uSNChanged against one domain controller: point
// URL at a fixed DC, not at a name that round-robins between DCs, or every
// sync notices another DC and falls back to a full one (see poll.go).
var presets = map[string]preset{
	PresetOpenLDAP: {
		orgFilter:    "(&(objectClass=organization)(objectClass=domainRelatedObject))",
		personFilter: "(objectClass=inetOrgPerson)",
		orgName:      "o", orgDomains: "associatedDomain", orgDescription: "description",
		personName: "displayName,cn", personMail: "mail", personDept: "ou",
		idAttr: "entryUUID", contentSync: true, pollAttr: attrTimestamp,
	},
	PresetAD: {
		orgFilter: "(&(objectClass=organizationalUnit)(associatedDomain=*))",
		personFilter: "(&(objectCategory=person)(objectClass=user)(mail=*)" +
			"(!(userAccountControl:1.2.840.113556.1.4.803:=2)))",
		orgName: "ou", orgDomains: "associatedDomain", orgDescription: "description",
		personName: "displayName,cn", personMail: "mail", personDept: "department",
		idAttr: "objectGUID", pollAttr: attrUSN,
	},
}

// settings is a validated Config with the preset applied.
type settings struct {
	Config
	url         *url.URL // nil when LDAP is not configured
	base        *ldap.DN
	orgAttrs    fieldAttrs
	personAttrs fieldAttrs
	idAttr      string
	binaryID    bool   // objectGUID: 16 raw bytes
	contentSync bool   // RFC 4533 content sync may be used
	pollAttr    string // change counter to poll; "" when polling is not possible
	plaintext   bool   // ldap:// without StartTLS to a loopback address
}

// fieldAttrs maps a field to its attribute names, fallbacks in order.
type fieldAttrs map[string][]string

// Field names.
const (
	fName, fDomains, fDescription, fOIN, fKvK = "name", "domains", "description", "oin", "kvk"
	fMail, fDept                              = "mail", "department"
)

func (f fieldAttrs) all() []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(f)) {
		out = append(out, f[k]...)
	}
	return out
}

func splitAttrs(s string) []string {
	var out []string
	for a := range strings.SplitSeq(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

func or(v, def string) string {
	if strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

// resolve validates cfg and fills in the preset.
func (cfg Config) resolve() (*settings, error) {
	name := or(strings.ToLower(cfg.Preset), PresetOpenLDAP)
	p, ok := presets[name]
	if !ok {
		return nil, fmt.Errorf("%w: unknown preset %q", ErrConfig, cfg.Preset)
	}
	cfg.Preset = name
	cfg.OrgFilter = or(cfg.OrgFilter, p.orgFilter)
	cfg.PersonFilter = or(cfg.PersonFilter, p.personFilter)
	s := &settings{Config: cfg, idAttr: or(cfg.IDAttr, p.idAttr)}
	s.binaryID = strings.EqualFold(s.idAttr, "objectGUID")
	if err := s.incrementalMode(p); err != nil {
		return nil, err
	}
	s.orgAttrs = fieldAttrs{
		fName: splitAttrs(or(cfg.OrgNameAttr, p.orgName)), fDomains: splitAttrs(or(cfg.OrgDomainsAttr, p.orgDomains)),
		fDescription: splitAttrs(or(cfg.OrgDescriptionAttr, p.orgDescription)),
		fOIN:         splitAttrs(cfg.OrgOINAttr), fKvK: splitAttrs(cfg.OrgKvKAttr),
	}
	s.personAttrs = fieldAttrs{
		fName: splitAttrs(or(cfg.PersonNameAttr, p.personName)), fMail: splitAttrs(or(cfg.PersonMailAttr, p.personMail)),
		fDept: splitAttrs(or(cfg.PersonDeptAttr, p.personDept)),
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	return s, nil
}

// incrementalMode decides which incremental syncs are possible. Content sync
// identifies entries by entryUUID; uSNChanged polling finds deleted objects by
// objectGUID, the only id their tombstones keep.
func (s *settings) incrementalMode(p preset) error {
	mode := strings.ToLower(strings.TrimSpace(s.Incremental))
	if mode != IncrementalAuto && mode != IncrementalPoll && mode != IncrementalOff {
		return fmt.Errorf("%w: Incremental must be %q, %q or empty, not %q", ErrConfig, IncrementalPoll, IncrementalOff, s.Incremental)
	}
	s.Incremental = mode
	s.contentSync = p.contentSync && mode == IncrementalAuto && strings.EqualFold(s.idAttr, "entryUUID")
	if mode != IncrementalOff && (p.pollAttr != attrUSN || s.binaryID) {
		s.pollAttr = p.pollAttr
	}
	return nil
}

func (s *settings) check() error {
	for _, f := range []string{s.OrgFilter, s.PersonFilter} {
		if _, err := ldap.CompileFilter(f); err != nil {
			return fmt.Errorf("%w: filter %q: %v", ErrConfig, f, err)
		}
	}
	if len(s.orgAttrs[fName]) == 0 || len(s.orgAttrs[fDomains]) == 0 || len(s.personAttrs[fName]) == 0 {
		return fmt.Errorf("%w: organisation name, domains and person name attributes are required", ErrConfig)
	}
	if s.PageSize <= 0 {
		s.PageSize = DefaultPageSize
	}
	if s.Preset == PresetAD && s.PageSize > adMaxPageSize {
		s.PageSize = adMaxPageSize
	}
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
	}
	if strings.TrimSpace(s.URL) == "" {
		return nil
	}
	return s.checkLDAP()
}

func (s *settings) checkLDAP() error {
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
		return fmt.Errorf("%w: URL must be ldap://host[:port] or ldaps://host[:port]", ErrConfig)
	}
	if u.Scheme == "ldaps" && s.StartTLS {
		return fmt.Errorf("%w: StartTLS is for ldap:// URLs; ldaps:// is TLS already", ErrConfig)
	}
	if u.User != nil {
		return fmt.Errorf("%w: put credentials in BindDN and BindPassword, not in the URL", ErrConfig)
	}
	if u.Scheme == "ldap" && !s.StartTLS {
		// Simple binds (RFC 4513 §5.1.3) carry the service account's and every
		// user's password; §6.3.3 asks for TLS around them.
		if !isLoopback(u.Hostname()) {
			return fmt.Errorf("%w: ldap:// without StartTLS would send passwords in clear text; "+
				"use ldaps:// or StartTLS (plain ldap:// is allowed only to a loopback address)", ErrConfig)
		}
		s.plaintext = true
	}
	if s.BindDN != "" && s.BindPassword == "" {
		return fmt.Errorf("%w: BindDN without BindPassword would be an unauthenticated bind", ErrConfig)
	}
	base, err := ldap.ParseDN(s.BaseDN)
	if err != nil || len(base.RDNs) == 0 {
		return fmt.Errorf("%w: BaseDN %q is not a distinguished name", ErrConfig, s.BaseDN)
	}
	s.url, s.base = u, base
	return nil
}

// isLoopback reports whether host is "localhost" or a loopback IP address
// (127.0.0.0/8, ::1), where an unencrypted connection never leaves the machine.
func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

// source names the directory for sync runs, as an RFC 4516 LDAP URL without
// credentials.
func (s *settings) source() string {
	u := url.URL{Scheme: s.url.Scheme, Host: s.url.Host, Path: "/" + s.BaseDN}
	return u.String()
}

// fingerprint identifies what a stored sync position was taken against, so that
// changing the server, base or mapping forces a full sync.
func (s *settings) fingerprint() string {
	h := sha256.New()
	for _, v := range []string{s.url.Host, s.BaseDN, s.OrgFilter, s.PersonFilter, s.idAttr,
		strings.Join(s.orgAttrs.all(), ","), strings.Join(s.personAttrs.all(), ",")} {
		h.Write([]byte(strings.ToLower(v)))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}
