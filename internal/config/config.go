// Package config is Veilig's configuration: one documented struct, read from the
// environment (prefix VEILIG_) with command-line flags overriding, and logged once at
// start-up with secrets masked.
package config

import (
	"errors"
	"flag"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/veilig/veilig/internal/mailcheck"
	"github.com/veilig/veilig/internal/redact"
)

// Prefix is the prefix of every environment variable.
const Prefix = "VEILIG_"

// ErrInvalid reports a configuration value that cannot be used.
var ErrInvalid = errors.New("config: invalid value")

// Config is everything an operator can set. Tags: env (variable name after the
// prefix; the flag is its lower-case, dashed form), default, help, and secret
// (masked in logs).
type Config struct {
	HTTPAddr        string        `env:"HTTP_ADDR" default:"127.0.0.1:8080" help:"address the HTTP API listens on"`
	HTTPTLSCert     string        `env:"HTTP_TLS_CERT" default:"" help:"PEM certificate chain: serve HTTPS directly (e.g. a trusted localhost certificate for sideloading the Outlook add-in); empty = plain HTTP behind a TLS proxy"`
	HTTPTLSKey      string        `env:"HTTP_TLS_KEY" default:"" help:"PEM private key of HTTP_TLS_CERT" secret:"true"`
	PublicURL       string        `env:"PUBLIC_URL" default:"http://127.0.0.1:8080" help:"external base URL of this server; the token issuer"`
	DatabaseURL     string        `env:"DATABASE_URL" default:"data/veilig.db" help:"postgres://… for PostgreSQL, else an SQLite file path" secret:"url"`
	LogLevel        string        `env:"LOG_LEVEL" default:"info" help:"debug, info, warn or error"`
	LogFormat       string        `env:"LOG_FORMAT" default:"json" help:"json or text"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" default:"20s" help:"how long in-flight requests get on SIGTERM"`
	MaxBodyBytes    int64         `env:"MAX_BODY_BYTES" default:"1048576" help:"largest JSON request body accepted"`
	TrustedProxies  string        `env:"TRUSTED_PROXIES" default:"" help:"comma-separated CIDRs whose X-Forwarded-For is believed"`
	AddinOrigins    string        `env:"ADDIN_ORIGINS" default:"" help:"comma-separated exact origins (scheme://host[:port]) whose add-in code may call the API (CORS) and frame the add-in pages, e.g. an on-premises OWA; empty = PUBLIC_URL's origin only"`

	TokenAudience  string        `env:"TOKEN_AUDIENCE" default:"veilig-api" help:"aud of access tokens"`
	AccessTokenTTL time.Duration `env:"ACCESS_TOKEN_TTL" default:"15m" help:"lifetime of access tokens"`

	LDAPURL          string        `env:"LDAP_URL" default:"" help:"ldaps:// URL of the community directory, or ldap:// with LDAP_STARTTLS (plain ldap:// only on loopback); empty disables LDAP"`
	LDAPStartTLS     bool          `env:"LDAP_STARTTLS" default:"false" help:"upgrade ldap:// with StartTLS"`
	LDAPCAFile       string        `env:"LDAP_CA_FILE" default:"" help:"PEM file of CA certificates trusted for LDAP TLS"`
	LDAPBindDN       string        `env:"LDAP_BIND_DN" default:"" help:"DN Veilig binds as to read the directory"`
	LDAPBindPassword string        `env:"LDAP_BIND_PASSWORD" default:"" help:"password of LDAP_BIND_DN" secret:"true"`
	LDAPBaseDN       string        `env:"LDAP_BASE_DN" default:"" help:"subtree holding the community"`
	LDAPPreset       string        `env:"LDAP_PRESET" default:"openldap" help:"openldap (standard schema) or ad (Active Directory)"`
	LDAPOrgFilter    string        `env:"LDAP_ORG_FILTER" default:"" help:"overrides the preset's organisation filter"`
	LDAPPersonFilter string        `env:"LDAP_PERSON_FILTER" default:"" help:"overrides the preset's person filter"`
	LDAPAttrOrgName  string        `env:"LDAP_ATTR_ORG_NAME" default:"" help:"overrides the organisation name attribute"`
	LDAPAttrDomain   string        `env:"LDAP_ATTR_DOMAIN" default:"" help:"overrides the organisation mail-domain attribute"`
	LDAPAttrDesc     string        `env:"LDAP_ATTR_DESCRIPTION" default:"" help:"overrides the organisation description attribute"`
	LDAPAttrOIN      string        `env:"LDAP_ATTR_OIN" default:"" help:"attribute holding the organisation's OIN"`
	LDAPAttrKvK      string        `env:"LDAP_ATTR_KVK" default:"" help:"attribute holding the organisation's KvK number"`
	LDAPAttrName     string        `env:"LDAP_ATTR_PERSON_NAME" default:"" help:"overrides the person display-name attribute"`
	LDAPAttrMail     string        `env:"LDAP_ATTR_MAIL" default:"" help:"overrides the person mail attribute"`
	LDAPAttrDept     string        `env:"LDAP_ATTR_DEPARTMENT" default:"" help:"overrides the person department attribute"`
	LDAPPageSize     int           `env:"LDAP_PAGE_SIZE" default:"1000" help:"entries per page of the paged search (RFC 2696)"`
	LDAPTimeout      time.Duration `env:"LDAP_TIMEOUT" default:"30s" help:"timeout of one LDAP operation"`
	LDAPSyncInterval time.Duration `env:"LDAP_SYNC_INTERVAL" default:"0s" help:"how often serve syncs from LDAP; 0 = only on demand"`
	LDAPIncremental  string        `env:"LDAP_INCREMENTAL" default:"" help:"empty: RFC 4533 content sync where offered, else change polling (uSNChanged on AD); poll; off (always full)"`

	IndexRefresh time.Duration `env:"INDEX_REFRESH" default:"2s" help:"how often serve checks for directory changes made by other processes"`
	MemoryLimit  int64         `env:"MEMORY_LIMIT_MB" default:"320" help:"soft memory limit of the Go runtime in MiB (GOMEMLIMIT); 0 = none"`
	MetricsAllow string        `env:"METRICS_ALLOW" default:"127.0.0.0/8,::1/128" help:"comma-separated CIDRs allowed to read /metrics"`

	DataDir         string        `env:"DATA_DIR" default:"data" help:"directory for message blobs and upload spool (mode 0700)"`
	MaxMessageBytes int64         `env:"MAX_MESSAGE_BYTES" default:"52428800" help:"largest message accepted, attachments included"`
	MaxRecipients   int           `env:"MAX_RECIPIENTS" default:"500" help:"most recipients (to + cc + bcc) of one message"`
	DNSResolver     string        `env:"DNS_RESOLVER" default:"127.0.0.1:53" help:"validating DNSSEC resolver (host:port); its AD bit is trusted"`
	DeliveryPort    int           `env:"DELIVERY_PORT" default:"25" help:"SMTP port of recipient mail servers"`
	DeliveryCAFile  string        `env:"DELIVERY_CA_FILE" default:"" help:"PEM file of extra CA roots for PKIX verification of mail servers"`
	SMTPHostname    string        `env:"SMTP_HOSTNAME" default:"" help:"name used in EHLO and Message-IDs; default the host name"`
	DeliveryRelay   string        `env:"DELIVERY_RELAY" default:"" help:"host:port of a relay to send all mail through (TLS + AUTH required)"`
	RelayUsername   string        `env:"DELIVERY_RELAY_USERNAME" default:"" help:"AUTH user for the relay"`
	RelayPassword   string        `env:"DELIVERY_RELAY_PASSWORD" default:"" help:"AUTH password for the relay" secret:"true"`
	DeliveryMaxAge  time.Duration `env:"DELIVERY_MAX_AGE" default:"48h" help:"how long temporary failures are retried before a delivery fails"`
	DeliveryWorkers int           `env:"DELIVERY_WORKERS" default:"10" help:"concurrent deliveries per process"`
	DeliveryTimeout time.Duration `env:"DELIVERY_JOB_TIMEOUT" default:"15m" help:"longest one delivery run (all MX hosts of a domain) may take"`
	DeliveryRescue  time.Duration `env:"DELIVERY_RESCUE_AFTER" default:"20m" help:"when a delivery claimed by a process that died is run again; more than DELIVERY_JOB_TIMEOUT"`
	SubmissionAddr  string        `env:"SUBMISSION_ADDR" default:"" help:"address of the SMTP submission gateway; empty = off"`
	SubmissionCert  string        `env:"SUBMISSION_TLS_CERT" default:"" help:"PEM certificate chain for the submission gateway's STARTTLS"`
	SubmissionKey   string        `env:"SUBMISSION_TLS_KEY" default:"" help:"PEM private key for the submission gateway's STARTTLS" secret:"true"`

	MasterKeysFile string        `env:"MASTER_KEYS_FILE" default:"" help:"JSON key ring of master keys wrapping the data keys (mode 0600); empty = DATA_DIR/master-keys.json, created when missing"`
	BlobStore      string        `env:"BLOB_STORE" default:"fs" help:"where encrypted content lives: fs (DATA_DIR/blobs) or s3"`
	S3Endpoint     string        `env:"S3_ENDPOINT" default:"" help:"host:port of the S3-compatible object store"`
	S3Bucket       string        `env:"S3_BUCKET" default:"" help:"bucket holding the encrypted content"`
	S3Region       string        `env:"S3_REGION" default:"" help:"region of the bucket (empty for most self-hosted stores)"`
	S3AccessKey    string        `env:"S3_ACCESS_KEY" default:"" help:"S3 access key id"`
	S3SecretKey    string        `env:"S3_SECRET_KEY" default:"" help:"S3 secret access key" secret:"true"`
	S3TLS          bool          `env:"S3_TLS" default:"true" help:"use HTTPS to the object store"`
	S3CAFile       string        `env:"S3_CA_FILE" default:"" help:"PEM file of extra CA roots for the object store"`
	ExpiryDays     int           `env:"EXPIRY_DAYS" default:"30" help:"days an external recipient can read a message, unless the message or organisation says otherwise"`
	ReminderDays   int           `env:"REMINDER_DAYS" default:"3" help:"days before expiry a reminder goes to external recipients who have not opened; 0 = none"`
	ViewerIdle     time.Duration `env:"VIEWER_IDLE_TIMEOUT" default:"15m" help:"viewer session idle time-out"`
	ViewerAbsolute time.Duration `env:"VIEWER_ABSOLUTE_TIMEOUT" default:"1h" help:"viewer session absolute time-out"`
	SMSProvider    string        `env:"SMS_PROVIDER" default:"" help:"cm (CM.com); empty = no SMS, so external recipients are refused (unless DEV_MAILBOX)"`
	SMSToken       string        `env:"SMS_CM_TOKEN" default:"" help:"CM.com product token" secret:"true"`
	SMSSender      string        `env:"SMS_SENDER" default:"Veilig" help:"SMS sender id (max 11 letters/digits)"`
	SMSEndpoint    string        `env:"SMS_CM_URL" default:"" help:"overrides CM.com's API URL (tests)"`
	SMSRegions     string        `env:"SMS_REGIONS" default:"" help:"comma-separated ISO regions phone numbers may be in; empty = NL + EU/EEA"`
	SMSDailyCap    int           `env:"SMS_DAILY_CAP" default:"500" help:"default daily SMS cap per organisation (organisation settings may lower or raise it)"`
	DetectPatterns string        `env:"DETECT_PATTERNS" default:"" help:"JSON list of extra sensitive-data patterns [{\"name\":…,\"pattern\":…}] (RE2 = JavaScript syntax, no inline flags), besides BSN and IBAN"`
	EnrolmentTTL   time.Duration `env:"ENROLMENT_EXPIRE_AFTER" default:"336h" help:"how long an enrolment may stay unfinished before it expires"`
	AutoAdmit      bool          `env:"AUTO_ADMIT" default:"false" help:"admit enrolments automatically when every domain is verified and its check meets AUTO_ADMIT_FLOOR"`
	AutoAdmitFloor string        `env:"AUTO_ADMIT_FLOOR" default:"dnssec+dane|mta-sts,dmarc" help:"what automatic admission requires: clauses joined by ',', alternatives by '|', requirements by '+' (dnssec dane mta-sts dmarc spf dkim starttls all)"`
	CheckTimeout   time.Duration `env:"CHECK_TIMEOUT" default:"20s" help:"bound of each test of a mail-standards check (DNS lookups, one STARTTLS probe)"`
	CheckPrivate   bool          `env:"CHECK_ALLOW_PRIVATE" default:"false" help:"let mail-standards checks connect to loopback, private and link-local addresses (an applicant's MX or mta-sts host); tests on 127.0.0.x only"`
	MonitorEvery   time.Duration `env:"MONITOR_INTERVAL" default:"24h" help:"how often every community domain is re-checked (jittered); 0 = no monitoring"`
	MonitorWorkers int           `env:"MONITOR_CONCURRENCY" default:"4" help:"mail-standards checks run at once by monitoring"`
	DevMailbox     bool          `env:"DEV_MAILBOX" default:"false" help:"capture every e-mail and SMS at /dev/mailbox instead of sending (development only)"`
}

// field is one configuration field found by reflection.
type field struct {
	env, flag, def, help, secret string
	v                            reflect.Value
}

func (c *Config) fields() []field {
	rv := reflect.ValueOf(c).Elem()
	rt := rv.Type()
	out := make([]field, 0, rt.NumField())
	for i := range rt.NumField() {
		sf := rt.Field(i)
		env := sf.Tag.Get("env")
		out = append(out, field{
			env: Prefix + env, flag: strings.ReplaceAll(strings.ToLower(env), "_", "-"),
			def: sf.Tag.Get("default"), help: sf.Tag.Get("help"), secret: sf.Tag.Get("secret"),
			v: rv.Field(i),
		})
	}
	return out
}

// Load fills a Config from defaults, then the environment (getenv), then flags
// registered on fs and parsed from args. It returns the arguments left after flags.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, []string, error) {
	var c Config
	for _, f := range c.fields() {
		val := f.def
		if e := getenv(f.env); e != "" {
			val = e
		}
		if err := set(f.v, val); err != nil {
			return c, nil, fmt.Errorf("%w: %s=%q: %v", ErrInvalid, f.env, val, err)
		}
		fs.Var(flagValue{f.v}, f.flag, f.help+" (env "+f.env+")")
	}
	if err := fs.Parse(args); err != nil {
		return c, nil, err
	}
	return c, fs.Args(), c.validate()
}

func (c *Config) validate() error {
	switch {
	case c.LDAPIncremental != "" && c.LDAPIncremental != "poll" && c.LDAPIncremental != "off":
		return fmt.Errorf("%w: LDAP_INCREMENTAL must be empty, poll or off", ErrInvalid)
	case c.LDAPPreset != "openldap" && c.LDAPPreset != "ad":
		return fmt.Errorf("%w: LDAP_PRESET must be openldap or ad", ErrInvalid)
	case c.AccessTokenTTL <= 0 || c.AccessTokenTTL > time.Hour:
		return fmt.Errorf("%w: ACCESS_TOKEN_TTL must be between 0 and 1h", ErrInvalid)
	case c.MaxBodyBytes <= 0:
		return fmt.Errorf("%w: MAX_BODY_BYTES must be positive", ErrInvalid)
	case c.LDAPURL != "" && c.LDAPBaseDN == "":
		return fmt.Errorf("%w: LDAP_BASE_DN is required with LDAP_URL", ErrInvalid)
	case c.IndexRefresh <= 0 || c.LDAPTimeout <= 0 || c.ShutdownTimeout <= 0 || c.DeliveryMaxAge <= 0:
		return fmt.Errorf("%w: INDEX_REFRESH, LDAP_TIMEOUT, SHUTDOWN_TIMEOUT and DELIVERY_MAX_AGE must be positive", ErrInvalid)
	case c.DeliveryTimeout <= 0 || c.DeliveryRescue <= c.DeliveryTimeout:
		return fmt.Errorf("%w: DELIVERY_RESCUE_AFTER must be longer than a positive DELIVERY_JOB_TIMEOUT", ErrInvalid)
	case c.MemoryLimit < 0:
		return fmt.Errorf("%w: MEMORY_LIMIT_MB must not be negative", ErrInvalid)
	case c.LDAPSyncInterval < 0:
		return fmt.Errorf("%w: LDAP_SYNC_INTERVAL must not be negative", ErrInvalid)
	case c.MaxMessageBytes < 1024 || c.MaxRecipients < 1 || c.DeliveryWorkers < 1:
		return fmt.Errorf("%w: MAX_MESSAGE_BYTES, MAX_RECIPIENTS and DELIVERY_WORKERS must be positive", ErrInvalid)
	case c.DeliveryPort < 1 || c.DeliveryPort > 65535:
		return fmt.Errorf("%w: DELIVERY_PORT must be a TCP port", ErrInvalid)
	case c.DeliveryRelay != "" && (c.RelayUsername == "" || c.RelayPassword == ""):
		return fmt.Errorf("%w: DELIVERY_RELAY needs DELIVERY_RELAY_USERNAME and DELIVERY_RELAY_PASSWORD", ErrInvalid)
	case c.SubmissionAddr != "" && (c.SubmissionCert == "" || c.SubmissionKey == ""):
		return fmt.Errorf("%w: SUBMISSION_ADDR needs SUBMISSION_TLS_CERT and SUBMISSION_TLS_KEY (STARTTLS is required)", ErrInvalid)
	}
	return c.validateExternal()
}

// validateExternal checks the settings of the encrypted store and the external route.
func (c *Config) validateExternal() error {
	switch {
	case (c.HTTPTLSCert == "") != (c.HTTPTLSKey == ""):
		return fmt.Errorf("%w: HTTP_TLS_CERT and HTTP_TLS_KEY go together", ErrInvalid)
	case c.BlobStore != "fs" && c.BlobStore != "s3":
		return fmt.Errorf("%w: BLOB_STORE must be fs or s3", ErrInvalid)
	case c.BlobStore == "s3" && (c.S3Endpoint == "" || c.S3Bucket == "" || c.S3AccessKey == "" || c.S3SecretKey == ""):
		return fmt.Errorf("%w: BLOB_STORE=s3 needs S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY and S3_SECRET_KEY", ErrInvalid)
	case c.ExpiryDays < 1 || c.ExpiryDays > 365 || c.ReminderDays < 0 || c.ReminderDays >= c.ExpiryDays:
		return fmt.Errorf("%w: EXPIRY_DAYS must be 1–365 and REMINDER_DAYS below it", ErrInvalid)
	case c.ViewerIdle <= 0 || c.ViewerAbsolute < c.ViewerIdle:
		return fmt.Errorf("%w: VIEWER_ABSOLUTE_TIMEOUT must be at least a positive VIEWER_IDLE_TIMEOUT", ErrInvalid)
	case c.SMSProvider != "" && c.SMSProvider != "cm":
		return fmt.Errorf("%w: SMS_PROVIDER must be empty or cm", ErrInvalid)
	case c.SMSProvider == "cm" && c.SMSToken == "":
		return fmt.Errorf("%w: SMS_PROVIDER=cm needs SMS_CM_TOKEN", ErrInvalid)
	case c.SMSDailyCap < 0:
		return fmt.Errorf("%w: SMS_DAILY_CAP must not be negative", ErrInvalid)
	}
	return c.validateEnrolment()
}

// validateEnrolment checks the settings of enrolment and monitoring.
func (c *Config) validateEnrolment() error {
	switch {
	case c.EnrolmentTTL < time.Hour:
		return fmt.Errorf("%w: ENROLMENT_EXPIRE_AFTER must be at least 1h", ErrInvalid)
	case c.CheckTimeout <= 0:
		return fmt.Errorf("%w: CHECK_TIMEOUT must be positive", ErrInvalid)
	case c.MonitorEvery < 0 || (c.MonitorEvery > 0 && c.MonitorEvery < time.Minute):
		return fmt.Errorf("%w: MONITOR_INTERVAL must be 0 (off) or at least 1m", ErrInvalid)
	case c.MonitorWorkers < 1 || c.MonitorWorkers > 64:
		return fmt.Errorf("%w: MONITOR_CONCURRENCY must be 1–64", ErrInvalid)
	}
	if _, err := mailcheck.ParseFloor(c.AutoAdmitFloor); err != nil {
		return fmt.Errorf("%w: AUTO_ADMIT_FLOOR: %w", ErrInvalid, err)
	}
	return nil
}

func set(v reflect.Value, s string) error {
	switch v.Interface().(type) {
	case string:
		v.SetString(s)
	case bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		v.SetBool(b)
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
	case int, int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		v.SetInt(n)
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}

// flagValue adapts a config field to flag.Value.
type flagValue struct{ v reflect.Value }

func (f flagValue) String() string {
	if !f.v.IsValid() {
		return ""
	}
	return fmt.Sprint(f.v.Interface())
}

func (f flagValue) Set(s string) error { return set(f.v, s) }

func (f flagValue) IsBoolFlag() bool { return f.v.IsValid() && f.v.Kind() == reflect.Bool }

// Masked returns the configuration as key/value pairs for logging, secrets masked.
func (c *Config) Masked() []any {
	var out []any
	for _, f := range c.fields() {
		val := fmt.Sprint(f.v.Interface())
		switch {
		case f.secret == "url":
			val = redact.URL(val)
		case f.secret != "" && val != "":
			val = "*****"
		}
		out = append(out, f.env, val)
	}
	return out
}

// Table returns a Markdown table of every setting (used to keep the README in step).
func Table() string {
	var c Config
	var b strings.Builder
	b.WriteString("| variable | flag | default | meaning |\n|---|---|---|---|\n")
	for _, f := range c.fields() {
		def := "(empty)"
		if f.def != "" {
			def = "`" + f.def + "`"
		}
		cell := strings.NewReplacer("|", `\|`).Replace // a pipe would end the table cell
		fmt.Fprintf(&b, "| `%s` | `--%s` | %s | %s |\n", f.env, f.flag, cell(def), cell(f.help))
	}
	return b.String()
}
