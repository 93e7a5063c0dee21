// Package migrations holds the versioned SQL schema, one directory per dialect,
// embedded into the veilig binary and applied by goose (internal/database).
package migrations

import "embed"

// FS holds postgres/*.sql and sqlite/*.sql.
//
//go:embed postgres/*.sql sqlite/*.sql
var FS embed.FS
