package outbox

// SystemMail is a plain-text mail Veilig itself sends to people of the
// community (an enrolment decision, a monitoring alert). It carries no
// message content and no secrets: its text is stored with its job.
type SystemMail struct {
	To      []string `json:"to"`
	Subject string   `json:"subject"`
	Text    string   `json:"text"`
}
