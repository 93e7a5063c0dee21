package database

import "context"

// DownTo rolls the schema back to version (tests of the down migrations).
func (db *DB) DownTo(ctx context.Context, version int64) error {
	p, err := db.provider()
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, version)
	return err
}
