-- +goose Up
-- The second factor of an external recipient (issue 6): 'sms' (the phone number
-- given at submission) or 'email' (no phone number, and the sender's
-- organisation allows the one-time code by e-mail). The code itself is never
-- stored, only its HMAC (otp_codes).
ALTER TABLE external_recipients ADD COLUMN code_channel TEXT NOT NULL DEFAULT 'sms'
    CHECK (code_channel IN ('sms', 'email'));

-- +goose Down
ALTER TABLE external_recipients DROP COLUMN code_channel;
