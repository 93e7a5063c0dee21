#!/usr/bin/env bash
# make run: the server on the embedded SQLite default, with the demo community
# imported and a demo sender whose credentials are printed with working curl
# examples. Data lives in ./data (delete it to start over).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=./bin/veilig
ldif=scripts/demo-community.ldif
export VEILIG_DATABASE_URL=${VEILIG_DATABASE_URL:-data/veilig.db}
export VEILIG_HTTP_ADDR=${VEILIG_HTTP_ADDR:-127.0.0.1:8080}
export VEILIG_PUBLIC_URL=${VEILIG_PUBLIC_URL:-http://$VEILIG_HTTP_ADDR}
export VEILIG_LOG_FORMAT=${VEILIG_LOG_FORMAT:-text}
# Nothing leaves this machine: every e-mail and SMS is shown at /dev/mailbox.
export VEILIG_DEV_MAILBOX=${VEILIG_DEV_MAILBOX:-1}
export VEILIG_SMTP_HOSTNAME=${VEILIG_SMTP_HOSTNAME:-veilig.localhost}
mkdir -p data
chmod 700 data

"$bin" migrate
"$bin" directory import --ldif "$ldif"

# The demo sender works at the first organisation of the demo community.
domain=$(grep -m1 '^associatedDomain:' "$ldif" | awk '{print $2}')
email="demo@$domain"
creds=data/demo-credentials
if [ ! -s "$creds" ]; then
	umask 077
	password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
	printf '%s\n' "$password" | "$bin" user add --email "$email" --password-stdin --role sender
	printf '%s %s\n' "$email" "$password" >"$creds"
fi
read -r email password <"$creds"
base=$VEILIG_PUBLIC_URL

cat <<TXT

  Veilig is starting on $base (SQLite: $VEILIG_DATABASE_URL)

  Demo sender:  $email
  Password:     $password

  Try it (in another terminal):

    TOKEN=\$(curl -s $base/api/v1/auth/token -H 'Content-Type: application/json' \\
      -d '{"grant_type":"password","username":"$email","password":"$password"}' \\
      | sed -E 's/.*"access_token":"([^"]+)".*/\1/')

    curl -s "$base/api/v1/directory/search?q=gem&limit=5" -H "Authorization: Bearer \$TOKEN"

    curl -s $base/api/v1/recipients/resolve -H "Authorization: Bearer \$TOKEN" \\
      -H 'Content-Type: application/json' -d '{"addresses":["info@$domain","iemand@gmail.com","kapot@@adres"]}'

    curl -s $base/api/v1/directory/status -H "Authorization: Bearer \$TOKEN"

  Send securely to someone outside the community, then read it as they would:

    curl -s $base/api/v1/messages -H "Authorization: Bearer \$TOKEN" \\
      -F 'message={"to":["iemand@example.org"],"subject":"Uw dossier","text":"Zie bijlage.","phones":{"iemand@example.org":"+31612345678"}};type=application/json' \\
      -F 'attachment=@README.md'

    Open $base/dev/mailbox: the notification e-mail has the link. Open it, ask for
    the code, read the code from the SMS in the same mailbox, read and reply.

  Stop with Ctrl-C.

TXT
exec "$bin" serve
