package addin_test

// A content-model check of the add-in only manifest, encoded by hand from
// [MS-OWEMXML] "Office Web Extensibility Manifest Format", because the XSDs
// are not reachable offline and office-addin-manifest validates XML against
// Microsoft's online service. Only the elements our manifest uses are
// modelled, plus their siblings where the spec lists them; anything else is
// reported as unexpected. Sources:
//
//   - OfficeApp / MailApp (appforoffice/1.1), section 5.2:
//     https://learn.microsoft.com/en-us/previous-versions/office/dn482624(v=office.15) (OfficeApp),
//     https://learn.microsoft.com/en-us/previous-versions/office/dn482616(v=office.15) (MailApp),
//     https://learn.microsoft.com/en-us/previous-versions/office/dn481271(v=office.15) (FormSettings),
//     https://learn.microsoft.com/en-us/openspecs/office_file_formats/ms-owemxml/38876bb1-d120-4c62-9ed5-00d20e8a11b0 (ItemEdit),
//     https://learn.microsoft.com/en-us/previous-versions/office/dn482618(v=office.15) (Rule)
//   - mailappversionoverrides (1.0), section 5.4:
//     https://learn.microsoft.com/en-us/openspecs/office_file_formats/ms-owemxml/578d8214-2657-4e6a-8485-25899e772fac (schema),
//     https://learn.microsoft.com/en-us/openspecs/office_file_formats/ms-owemxml/1ceb2dec-cef9-4e7c-9044-fd7f6a3b1502 (VersionOverridesV1_0),
//     https://learn.microsoft.com/en-us/openspecs/office_file_formats/ms-owemxml/cc335341-8302-41e7-907f-b5f4e5a4069d (FormFactor),
//     https://learn.microsoft.com/en-us/openspecs/office_file_formats/ms-owemxml/479e17e8-e8e1-4bf9-8071-6a76c9a5f4d7 (Supertip)
//   - mailappversionoverrides/1.1, section 5.5:
//     https://learn.microsoft.com/en-us/openspecs/office_file_formats/ms-owemxml/8e722c85-eb78-438c-94a4-edac7e9c533a (schema),
//     https://learn.microsoft.com/en-us/openspecs/office_file_formats/ms-owemxml/3102a95c-45c1-4f9c-b75a-33749ebf1b76 (VersionOverridesV1_1),
//     https://learn.microsoft.com/en-us/openspecs/office_file_formats/ms-owemxml/c71ba9de-1cd3-4905-9723-6840e067e5ab (MailHost),
//     https://learn.microsoft.com/en-us/openspecs/office_file_formats/ms-owemxml/29353c05-d80b-4b92-bb73-537c994e4abf (MessageComposeCommandSurface),
//     https://learn.microsoft.com/en-us/openspecs/office_file_formats/ms-owemxml/12a3844c-41d6-49f6-91a6-2792c2a81aa0 (LaunchEvent),
//     https://learn.microsoft.com/en-us/openspecs/office_file_formats/ms-owemxml/851df956-9c95-4afc-84d3-873600825263 (LaunchEvents),
//     https://learn.microsoft.com/en-us/openspecs/office_file_formats/ms-owemxml/0945249e-4c71-47c0-bd67-02a224f804e7 (LaunchEventDefinition),
//     https://learn.microsoft.com/en-us/openspecs/office_file_formats/ms-owemxml/0334cc6d-2ecc-4474-a7d3-be3b2b065781 (LaunchEventSendMode)
//   - officeappbasictypes/1.0, section 5.6:
//     https://learn.microsoft.com/en-us/openspecs/office_file_formats/ms-owemxml/cbee9187-413a-4fd2-b131-8669609a62ea (schema),
//     https://learn.microsoft.com/en-us/openspecs/office_file_formats/ms-owemxml/d5d71c68-7be4-41c2-a973-0a3a6de3e07d (Resources)
//
// Where the spec fragment was not at hand, the element reference at
// https://learn.microsoft.com/en-us/javascript/api/manifest/ (VersionOverrides,
// Runtime, Override, Icon, Control) was used, and occurrence limits were
// kept permissive so the checker cannot reject a valid manifest on a guess.

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

const (
	nsApp  = "http://schemas.microsoft.com/office/appforoffice/1.1"
	nsBT   = "http://schemas.microsoft.com/office/officeappbasictypes/1.0"
	nsVO   = "http://schemas.microsoft.com/office/mailappversionoverrides"
	nsVO11 = "http://schemas.microsoft.com/office/mailappversionoverrides/1.1"
	nsXSI  = "http://www.w3.org/2001/XMLSchema-instance"

	unbounded = -1
	textKey   = "#text" // enum key for an element's character content
	leaf      = "leaf"  // simple content: no attributes, no children
	open      = "open"  // a type not modelled here: content not checked
)

// particle is one xs:element of a content model.
type particle struct {
	ns, name, typ string
	min, max      int
}

func one(ns, name, typ string) particle { return particle{ns, name, typ, 1, 1} }
func opt(ns, name, typ string) particle { return particle{ns, name, typ, 0, 1} }
func many(ns, name, typ string, min int) particle {
	return particle{ns, name, typ, min, unbounded}
}

// contentType is a complex type: its children in order (or a choice), its
// attributes (true = required), enumerations by attribute name or textKey,
// and, for abstract types, the xsi:type values allowed and their types.
type contentType struct {
	seq    []particle
	choice bool
	attrs  map[string]bool
	enum   map[string][]string
	xsi    map[string]string
}

type schema map[string]contentType

func manifestSchema() schema {
	s := schema{leaf: {}, open: {}}
	for k, v := range officeAppTypes() {
		s[k] = v
	}
	for k, v := range voTypes(nsVO, "vo") {
		s[k] = v
	}
	for k, v := range voTypes(nsVO11, "vo11") {
		s[k] = v
	}
	for k, v := range vo11Types() {
		s[k] = v
	}
	for k, v := range basicTypes() {
		s[k] = v
	}
	return s
}

// officeAppTypes: OfficeApp with xsi:type MailApp, whose sequence is the
// OfficeApp base sequence followed by the MailApp extension.
func officeAppTypes() schema {
	setting := contentType{attrs: map[string]bool{"DefaultValue": true},
		seq: []particle{many(nsApp, "Override", "app:Override", 0)}}
	return schema{
		"root":          {seq: []particle{one(nsApp, "OfficeApp", "app:OfficeApp")}},
		"app:OfficeApp": {xsi: map[string]string{"MailApp": "app:MailApp", "TaskPaneApp": open, "ContentApp": open}},
		"app:MailApp": {seq: []particle{
			one(nsApp, "Id", leaf), opt(nsApp, "AlternateId", leaf), one(nsApp, "Version", leaf),
			one(nsApp, "ProviderName", leaf), one(nsApp, "DefaultLocale", leaf),
			one(nsApp, "DisplayName", "app:Setting"), one(nsApp, "Description", "app:Setting"),
			opt(nsApp, "IconUrl", "app:Setting"), opt(nsApp, "HighResolutionIconUrl", "app:Setting"),
			opt(nsApp, "SupportUrl", "app:Setting"), opt(nsApp, "AppDomains", "app:AppDomains"),
			opt(nsApp, "Hosts", "app:Hosts"),
			one(nsApp, "Requirements", "app:Requirements"), one(nsApp, "FormSettings", "app:FormSettings"),
			opt(nsApp, "Permissions", "app:Permissions"), one(nsApp, "Rule", "app:Rule"),
			opt(nsApp, "DisableEntityHighlighting", "boolean"),
			opt(nsVO, "VersionOverrides", "vo:VersionOverrides"),
		}},
		"app:Setting":      setting,
		"app:Override":     {attrs: map[string]bool{"Locale": true, "Value": true}},
		"app:AppDomains":   {seq: []particle{many(nsApp, "AppDomain", leaf, 0)}},
		"app:Hosts":        {seq: []particle{many(nsApp, "Host", "app:Host", 1)}},
		"app:Host":         {attrs: map[string]bool{"Name": true}},
		"app:Requirements": {seq: []particle{one(nsApp, "Sets", "app:Sets")}},
		"app:Sets": {attrs: map[string]bool{"DefaultMinVersion": false},
			seq: []particle{many(nsApp, "Set", "app:Set", 1)}},
		"app:Set":          {attrs: map[string]bool{"Name": true, "MinVersion": false}},
		"app:FormSettings": {seq: []particle{{nsApp, "Form", "app:Form", 1, 2}}},
		"app:Form":         {xsi: map[string]string{"ItemRead": "app:ItemRead", "ItemEdit": "app:ItemEdit"}},
		"app:ItemEdit": {seq: []particle{one(nsApp, "DesktopSettings", "app:EditSettings"),
			opt(nsApp, "TabletSettings", "app:EditSettings"), opt(nsApp, "PhoneSettings", "app:EditSettings")}},
		"app:ItemRead": {seq: []particle{one(nsApp, "DesktopSettings", "app:ReadSettings"),
			opt(nsApp, "TabletSettings", "app:ReadSettings"), opt(nsApp, "PhoneSettings", "app:ReadSettings")}},
		"app:EditSettings": {seq: []particle{one(nsApp, "SourceLocation", "app:Setting")}},
		"app:ReadSettings": {seq: []particle{one(nsApp, "SourceLocation", "app:Setting"),
			opt(nsApp, "RequestedHeight", leaf)}},
		"app:Permissions": {enum: map[string][]string{textKey: {"Restricted", "ReadItem", "ReadWriteItem", "ReadWriteMailbox"}}},
		"app:Rule": {xsi: map[string]string{"RuleCollection": "app:RuleCollection", "ItemIs": "app:ItemIs",
			"ItemHasAttachment": open, "ItemHasKnownEntity": open, "ItemHasRegularExpressionMatch": open}},
		"app:RuleCollection": {attrs: map[string]bool{"Mode": true}, enum: map[string][]string{"Mode": {"And", "Or"}},
			seq: []particle{many(nsApp, "Rule", "app:Rule", 1)}},
		"app:ItemIs": {attrs: map[string]bool{"ItemType": true, "FormType": false, "ItemClass": false, "IncludeSubClasses": false},
			enum: map[string][]string{"ItemType": {"Message", "Appointment"}, "FormType": {"Read", "Edit", "ReadOrEdit"}}},
		"boolean": {enum: map[string][]string{textKey: {"true", "false", "1", "0"}}},
	}
}

// voTypes: the command-surface types both VersionOverrides schemas declare,
// each in its own namespace ns, keyed with prefix p.
func voTypes(ns, p string) schema {
	return schema{
		p + ":VersionOverrides": {xsi: map[string]string{"VersionOverridesV1_0": "vo:V1_0"}},
		"vo:V1_0": {seq: []particle{opt(nsVO, "Description", "bt:Ref"), opt(nsVO, "Requirements", "vo:Requirements"),
			opt(nsVO, "Hosts", "vo:Hosts"), opt(nsVO, "Resources", "bt:Resources"),
			opt(nsVO11, "VersionOverrides", "vo11:VersionOverrides")}},
		p + ":Requirements": {seq: []particle{one(nsBT, "Sets", "bt:Sets")}},
		p + ":Hosts":        {seq: []particle{many(ns, "Host", p+":Host", 1)}},
		p + ":Host":         {xsi: map[string]string{"MailHost": p + ":MailHost"}},
		p + ":MailHost":     {seq: []particle{opt(ns, "DesktopFormFactor", p+":FormFactor")}},
		p + ":FormFactor": {seq: []particle{opt(ns, "FunctionFile", "bt:Ref"),
			many(ns, "ExtensionPoint", p+":ExtensionPoint", 1)}},
		p + ":ExtensionPoint": {xsi: map[string]string{
			"MessageReadCommandSurface": p + ":CommandSurface", "MessageComposeCommandSurface": p + ":CommandSurface",
			"AppointmentOrganizerCommandSurface": p + ":CommandSurface", "AppointmentAttendeeCommandSurface": p + ":CommandSurface",
			"CustomPane": open}},
		p + ":CommandSurface": {choice: true, seq: []particle{one(ns, "OfficeTab", p+":OfficeTab"), one(ns, "CustomTab", open)}},
		p + ":OfficeTab":      {attrs: map[string]bool{"id": true}, seq: []particle{many(ns, "Group", p+":Group", 1)}},
		p + ":Group": {attrs: map[string]bool{"id": true},
			seq: []particle{one(ns, "Label", "bt:Ref"), many(ns, "Control", p+":Control", 1)}},
		p + ":Control": {xsi: map[string]string{"Button": p + ":Button", "Menu": open}},
		p + ":Button": {attrs: map[string]bool{"id": true}, seq: []particle{one(ns, "Label", "bt:Ref"),
			one(ns, "Supertip", p+":Supertip"), one(ns, "Icon", p+":Icon"), one(ns, "Action", p+":Action")}},
		p + ":Supertip": {seq: []particle{one(ns, "Title", "bt:Ref"), one(ns, "Description", "bt:Ref")}},
		p + ":Icon":     {seq: []particle{many(nsBT, "Image", "bt:SizedRef", 1)}},
		p + ":Action":   {xsi: map[string]string{"ShowTaskpane": p + ":ShowTaskpane", "ExecuteFunction": p + ":ExecuteFunction"}},
		p + ":ShowTaskpane": {seq: []particle{opt(ns, "TaskpaneId", leaf), one(ns, "SourceLocation", "bt:Ref"),
			opt(ns, "SupportsPinning", "boolean")}},
		p + ":ExecuteFunction": {seq: []particle{one(ns, "FunctionName", leaf)}},
	}
}

// vo11Types: what VersionOverrides 1.1 adds or changes.
func vo11Types() schema {
	ep := voTypes(nsVO11, "vo11")["vo11:ExtensionPoint"]
	ep.xsi["LaunchEvent"] = "vo11:LaunchEvent"
	for _, t := range []string{"Module", "Events", "DetectedEntity", "MobileMessageReadCommandSurface",
		"MobileOnlineMeetingCommandSurface", "ReportPhishingCommandSurface"} {
		ep.xsi[t] = open
	}
	return schema{
		"vo11:VersionOverrides": {xsi: map[string]string{"VersionOverridesV1_1": "vo11:V1_1"}},
		"vo11:V1_1": {seq: []particle{opt(nsVO11, "Description", "bt:Ref"),
			opt(nsVO11, "Requirements", "vo11:Requirements"), opt(nsVO11, "Hosts", "vo11:Hosts"),
			opt(nsVO11, "Resources", "bt:Resources"), opt(nsVO11, "WebApplicationInfo", open),
			opt(nsVO11, "EquivalentAddins", open)}},
		"vo11:MailHost": {seq: []particle{opt(nsVO11, "Runtimes", "vo11:Runtimes"),
			opt(nsVO11, "DesktopFormFactor", "vo11:DesktopFormFactor"), opt(nsVO11, "MobileFormFactor", "vo11:FormFactor")}},
		"vo11:DesktopFormFactor": {seq: []particle{opt(nsVO11, "FunctionFile", "bt:Ref"),
			many(nsVO11, "ExtensionPoint", "vo11:ExtensionPoint", 1), opt(nsVO11, "SupportsSharedFolders", "boolean")}},
		"vo11:ExtensionPoint": ep,
		"vo11:Runtimes":       {seq: []particle{many(nsVO11, "Runtime", "vo11:Runtime", 1)}},
		"vo11:Runtime": {attrs: map[string]bool{"resid": true, "lifetime": false},
			enum: map[string][]string{"lifetime": {"short", "long"}},
			seq:  []particle{opt(nsVO11, "Override", "vo11:RuntimeOverride")}},
		"vo11:RuntimeOverride": {attrs: map[string]bool{"type": true, "resid": true},
			enum: map[string][]string{"type": {"javascript"}}},
		"vo11:LaunchEvent": {seq: []particle{one(nsVO11, "LaunchEvents", "vo11:LaunchEvents"),
			one(nsVO11, "SourceLocation", "bt:Ref")}},
		"vo11:LaunchEvents": {seq: []particle{many(nsVO11, "LaunchEvent", "vo11:LaunchEventDefinition", 1)}},
		"vo11:LaunchEventDefinition": {
			attrs: map[string]bool{"Type": true, "FunctionName": true, "SendMode": false, "HeaderName": false},
			enum:  map[string][]string{"SendMode": {"PromptUser", "SoftBlock", "Block"}}},
	}
}

func basicTypes() schema {
	res := func(name string) contentType {
		return contentType{seq: []particle{many(nsBT, name, "bt:Resource", 1)}}
	}
	return schema{
		"bt:Ref": {attrs: map[string]bool{"resid": true}},
		"bt:SizedRef": {attrs: map[string]bool{"size": true, "resid": true},
			enum: map[string][]string{"size": {"16", "20", "24", "32", "40", "48", "64", "80"}}},
		"bt:Sets": {attrs: map[string]bool{"DefaultMinVersion": false}, seq: []particle{many(nsBT, "Set", "bt:Set", 1)}},
		"bt:Set":  {attrs: map[string]bool{"Name": true, "MinVersion": false}},
		"bt:Resources": {seq: []particle{opt(nsBT, "Images", "bt:Images"), opt(nsBT, "Urls", "bt:Urls"),
			opt(nsBT, "ShortStrings", "bt:ShortStrings"), opt(nsBT, "LongStrings", "bt:LongStrings")}},
		"bt:Images":       res("Image"),
		"bt:Urls":         res("Url"),
		"bt:ShortStrings": res("String"),
		"bt:LongStrings":  res("String"),
		"bt:Resource": {attrs: map[string]bool{"id": true, "DefaultValue": true},
			seq: []particle{many(nsBT, "Override", "bt:Override", 0)}},
		"bt:Override": {attrs: map[string]bool{"Locale": true, "Value": true}},
	}
}

// node is an element of the parsed manifest.
type node struct {
	name  xml.Name
	attrs []xml.Attr
	text  string
	kids  []*node
}

// parse reads the document with encoding/xml tokens into a tree under a
// synthetic root.
func parse(doc []byte) (*node, error) {
	root := &node{}
	stack := []*node{root}
	d := xml.NewDecoder(bytes.NewReader(doc))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return root, nil
		}
		if err != nil {
			return nil, err
		}
		top := stack[len(stack)-1]
		switch t := tok.(type) {
		case xml.StartElement:
			n := &node{name: t.Name, attrs: t.Attr}
			top.kids = append(top.kids, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			top.text += strings.TrimSpace(string(t))
		}
	}
}

// checkManifest returns the content-model violations of doc, each prefixed
// with the element's path.
func checkManifest(s schema, doc []byte) ([]string, error) {
	root, err := parse(doc)
	if err != nil {
		return nil, err
	}
	var v []string
	s.children(root, s["root"], "", &v)
	return v, nil
}

// element checks n against the declared type typ.
func (s schema) element(n *node, typ, path string, v *[]string) {
	ct, ok := s[typ]
	if !ok {
		*v = append(*v, fmt.Sprintf("%s: checker has no type %q", path, typ))
		return
	}
	if ct.xsi != nil {
		if ct, ok = s.resolve(n, ct, path, v); !ok {
			return
		}
	}
	if typ == open {
		return
	}
	s.attributes(n, ct, path, v)
	if want, ok := ct.enum[textKey]; ok && !slices.Contains(want, n.text) {
		*v = append(*v, fmt.Sprintf("%s: value %q not one of %v", path, n.text, want))
	}
	s.children(n, ct, path, v)
}

// resolve picks the concrete type named by n's xsi:type.
func (s schema) resolve(n *node, ct contentType, path string, v *[]string) (contentType, bool) {
	xt := attrValue(n, nsXSI, "type")
	if i := strings.IndexByte(xt, ':'); i >= 0 {
		xt = xt[i+1:]
	}
	typ, ok := ct.xsi[xt]
	if !ok {
		*v = append(*v, fmt.Sprintf("%s: xsi:type %q not one of %v", path, xt, keys(ct.xsi)))
		return contentType{}, false
	}
	if typ == open {
		return contentType{}, false
	}
	return s[typ], true
}

func (s schema) attributes(n *node, ct contentType, path string, v *[]string) {
	for name, required := range ct.attrs {
		if required && attrValue(n, "", name) == "" {
			*v = append(*v, fmt.Sprintf("%s: missing attribute %s", path, name))
		}
	}
	for _, a := range n.attrs {
		if a.Name.Space == nsXSI || a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			continue
		}
		if _, ok := ct.attrs[a.Name.Local]; !ok || a.Name.Space != "" {
			*v = append(*v, fmt.Sprintf("%s: unexpected attribute %s", path, a.Name.Local))
		} else if want, ok := ct.enum[a.Name.Local]; ok && !slices.Contains(want, a.Value) {
			*v = append(*v, fmt.Sprintf("%s: %s=%q not one of %v", path, a.Name.Local, a.Value, want))
		}
	}
}

// children matches n's child elements against the sequence (or choice) in
// order, checking each occurrence count, then checks each matched child.
func (s schema) children(n *node, ct contentType, path string, v *[]string) {
	paths := childPaths(n, path)
	seq := ct.seq
	if ct.choice && len(n.kids) > 0 {
		seq = choose(seq, n.kids[0])
	}
	i := 0
	for _, p := range seq {
		count := 0
		for i < len(n.kids) && n.kids[i].name == (xml.Name{Space: p.ns, Local: p.name}) && (p.max == unbounded || count < p.max) {
			s.element(n.kids[i], p.typ, paths[i], v)
			i, count = i+1, count+1
		}
		if count < p.min {
			*v = append(*v, fmt.Sprintf("%s/%s: missing (want at least %d in {%s})", path, p.name, p.min, p.ns))
		}
	}
	for ; i < len(n.kids); i++ {
		*v = append(*v, fmt.Sprintf("%s: unexpected element {%s}%s", paths[i], n.kids[i].name.Space, n.kids[i].name.Local))
	}
}

// choose narrows an xs:choice to the particle the first child selects.
func choose(seq []particle, first *node) []particle {
	for _, p := range seq {
		if first.name == (xml.Name{Space: p.ns, Local: p.name}) {
			return []particle{p}
		}
	}
	return seq[:1]
}

// childPaths names each child, with a 1-based index where siblings share a name.
func childPaths(n *node, path string) []string {
	total, seen := map[string]int{}, map[string]int{}
	for _, k := range n.kids {
		total[k.name.Local]++
	}
	out := make([]string, len(n.kids))
	for i, k := range n.kids {
		seen[k.name.Local]++
		out[i] = path + "/" + k.name.Local
		if total[k.name.Local] > 1 {
			out[i] += fmt.Sprintf("[%d]", seen[k.name.Local])
		}
	}
	return out
}

func attrValue(n *node, space, local string) string {
	for _, a := range n.attrs {
		if a.Name.Space == space && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func servedManifest(t *testing.T) string {
	t.Helper()
	return get(t, newAddin(t, publicURL), "GET", "/addin/outlook/manifest.xml").Body.String()
}

func TestManifestXMLSchema(t *testing.T) {
	for _, url := range []string{publicURL, "https://veilig.example.test/a&b'<c>"} {
		doc := get(t, newAddin(t, url), "GET", "/addin/outlook/manifest.xml").Body.Bytes()
		v, err := checkManifest(manifestSchema(), doc)
		if err != nil || len(v) != 0 {
			t.Errorf("manifest for %s: %v, violations:\n%s", url, err, strings.Join(v, "\n"))
		}
	}
}

// TestManifestXMLSchemaRejects shows the checker can fail: each mutation of
// the served manifest must produce a violation at the expected path.
func TestManifestXMLSchemaRejects(t *testing.T) {
	good := servedManifest(t)
	tests := []struct {
		name, old, new, want string
	}{
		{"child order swapped in OfficeApp", "<Version>1.0.0.0</Version>\n  <ProviderName>Veilig</ProviderName>",
			"<ProviderName>Veilig</ProviderName>\n  <Version>1.0.0.0</Version>", "/OfficeApp/Version: missing"},
		{"required element removed: FormSettings", "  <FormSettings>\n    <Form xsi:type=\"ItemEdit\">\n" +
			"      <DesktopSettings>\n        <SourceLocation DefaultValue=\"" + outlookURL + "taskpane.html\"/>\n" +
			"      </DesktopSettings>\n    </Form>\n  </FormSettings>\n", "", "/OfficeApp/FormSettings: missing"},
		{"required element removed: LaunchEvent SourceLocation", `<SourceLocation resid="Commands.Url"/>`, "",
			"/ExtensionPoint[2]/SourceLocation: missing"},
		{"unknown xsi:type", `<Action xsi:type="ShowTaskpane">`, `<Action xsi:type="ShowTaskPane">`,
			`/Control/Action: xsi:type "ShowTaskPane" not one of`},
		{"unknown xsi:type on ExtensionPoint", `xsi:type="LaunchEvent"`, `xsi:type="OnSend"`,
			`/ExtensionPoint[2]: xsi:type "OnSend"`},
		{"wrong namespace on VersionOverrides", `xmlns="http://schemas.microsoft.com/office/mailappversionoverrides" `,
			`xmlns="http://schemas.microsoft.com/office/mailappversionoverrides/1.0" `,
			"/OfficeApp/VersionOverrides: unexpected element {http://schemas.microsoft.com/office/mailappversionoverrides/1.0}"},
		{"wrong namespace on inner VersionOverrides", `xmlns="http://schemas.microsoft.com/office/mailappversionoverrides/1.1" xsi:type`,
			`xmlns="http://schemas.microsoft.com/office/mailappversionoverrides" xsi:type`,
			"/OfficeApp/VersionOverrides/VersionOverrides: unexpected element"},
		{"required attribute missing", ` FunctionName="onMessageSend"`, "",
			"/LaunchEvents/LaunchEvent: missing attribute FunctionName"},
		{"bad SendMode", `SendMode="SoftBlock"`, `SendMode="Softblock"`, `SendMode="Softblock" not one of`},
		{"bad Permissions", "<Permissions>ReadWriteItem</Permissions>", "<Permissions>ReadWrite</Permissions>",
			`/OfficeApp/Permissions: value "ReadWrite"`},
		{"unknown attribute", `<OfficeTab id="TabDefault">`, `<OfficeTab id="TabDefault" label="x">`,
			"/OfficeTab: unexpected attribute label"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := strings.Replace(good, tt.old, tt.new, 1)
			if bad == good {
				t.Fatalf("mutation %q not found in the manifest", tt.old)
			}
			v, err := checkManifest(manifestSchema(), []byte(bad))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(v, func(s string) bool { return strings.Contains(s, tt.want) }) {
				t.Errorf("no violation containing %q; got:\n%s", tt.want, strings.Join(v, "\n"))
			}
		})
	}
}
