// Package directory is the community directory: the organisations that take part in
// Veilig, their mail domains and their people, kept in sync with LDAP (RFC 4511) and
// queried for address-book autocomplete and recipient resolution.
//
// Domain names are stored as lower-case IDNA A-labels (RFC 5890/5891), so that
// "Gemeente-Ĳsselstein.nl" and "xn--gemeente-sselstein-..." are one name.
package directory

import (
	"errors"
	"time"
)

// Errors returned by this package; callers test them with errors.Is.
var (
	ErrNotFound      = errors.New("directory: not found")
	ErrInvalidDomain = errors.New("directory: invalid domain name")
	ErrDomainTaken   = errors.New("directory: domain belongs to another organisation")
	ErrInvalid       = errors.New("directory: invalid organisation")
)

// Organisation status values.
const (
	StatusActive  = "active"
	StatusRemoved = "removed"
)

// Where an organisation came from (organisations.origin). Directory syncs and
// LDIF imports only ever add, change or remove organisations of OriginDirectory;
// those of OriginEnrolment joined through self-enrolment and are left alone.
const (
	OriginDirectory = "directory"
	OriginEnrolment = "enrolment"
)

// EnrolmentSourcePrefix starts the source id of every enrolled organisation
// ("enrolment:<id>"); no directory entry may use it.
const EnrolmentSourcePrefix = "enrolment:"

// Organisation is one member of the community.
type Organisation struct {
	ID          string   // stable Veilig id (UUID), survives renames in LDAP
	SourceID    string   // stable id at the source: entryUUID, objectGUID, or derived from the DN
	SourceDN    string   // distinguished name at the source, informational
	Name        string   // display name ("Gemeente Utrecht")
	OIN         string   // Organisatie-identificatienummer, where present
	KvK         string   // Kamer van Koophandel number, where present
	Description string   //
	Status      string   // StatusActive or StatusRemoved
	Origin      string   // OriginDirectory or OriginEnrolment
	Domains     []string // lower-case A-labels, unique across the community
}

// Person is someone at a community organisation.
type Person struct {
	ID             string // stable Veilig id, derived from SourceID
	SourceID       string // entryUUID, objectGUID, or derived from the DN
	SourceDN       string
	OrganisationID string // the nearest organisation above the person in the tree
	DisplayName    string
	Mail           string // lower-case addr-spec; may be empty
	Department     string
}

// SyncRun records one synchronisation or import and its outcome.
type SyncRun struct {
	ID            int64
	Kind          string // RunFull, RunIncremental, RunImport
	Source        string // e.g. the LDAP URL without credentials, or the LDIF file name
	StartedAt     time.Time
	FinishedAt    *time.Time
	Outcome       string // OutcomeRunning, OutcomeSucceeded, OutcomeFailed
	Error         string // why a failed run failed, safe to show an operator
	Organisations int    // organisations written
	People        int    // people written
	Deleted       int    // entries removed
	Skipped       int    // bad entries skipped
	Issues        []SyncIssue
}

// SyncIssue says why one source entry was skipped, or what was wrong with an
// entry that was still written (such as a domain held by an enrolled organisation).
type SyncIssue struct {
	DN     string `json:"dn"`
	Reason string `json:"reason"`
}

// Sync run kinds and outcomes.
const (
	RunFull        = "full"
	RunIncremental = "incremental"
	RunImport      = "import"

	OutcomeRunning   = "running"
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"
)

// MaxIssuesKept bounds how many skipped-entry reasons a run stores.
const MaxIssuesKept = 100
