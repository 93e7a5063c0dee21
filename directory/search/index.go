// Package search is the address-book autocomplete over the community directory:
// an immutable in-memory prefix index of organisations and people, rebuilt after
// each directory sync and queried on every keystroke.
//
// # Matching
//
// Text is folded with [Fold] (Unicode simple case mapping and UAX #15 NFKD
// compatibility decomposition with combining marks removed), so "zoe" finds "Zoë"
// and "ijssel" finds the ligature "Ĳssel". Folded text splits into words at white
// space and punctuation; the joiners - ' . _ + @ stay inside a word. A record's
// tokens are:
//
//   - every word of its name, whole and from each part on, without joiners at
//     its ends: "'s-Hertogenbosch" gives "s-hertogenbosch" and "hertogenbosch",
//     "Jan-Willem" gives "jan-willem" and "willem", "O'Brien" gives "o'brien"
//     and "brien" (so "obrien" does not match);
//   - the local part of its e-mail address (RFC 5322 addr-spec) whole and from
//     each part on, split at . _ - +: "j.de.vries@utrecht.nl" gives
//     "j.de.vries", "de.vries" and "vries"; the domain of an address is no
//     token, so "utrecht" finds the organisation rather than all its people;
//   - each domain (RFC 5890 A-label or U-label; the folded Unicode form is
//     indexed, and the A-label too when it differs) whole and from each label or
//     hyphen part before its public suffix (Public Suffix List):
//     "gemeente-utrecht.nl" gives "gemeente-utrecht.nl" and "utrecht.nl", and so
//     matches "gemeente-utrecht" and "utrecht" but never "nl" alone.
//
// Every field is indexed whenever it is set, whatever the record's kind;
// OrganisationName is not searched.
//
// A query is folded and split the same way (joiners at the ends of a word are
// dropped), and a record matches when every query word is a prefix of one of its
// tokens, or, for a word with an "@", of its e-mail address ("j.de.vries@utr").
// Queries shorter than two characters, or longer than [MaxQueryBytes] bytes or
// [MaxQueryWords] words, match nothing. Words and tokens are cut to 80 bytes.
//
// # Ranking
//
// Hits come best first: [RankExact] (the query, folded and with its words joined
// by single spaces, equals the name, the e-mail address, a domain in either form
// or a domain without its public suffix), then [RankFirstWord] (the first query
// word is a prefix of the first word of the name), then [RankWord]. Ties go to
// organisations before people (and records of any other kind), then the
// shorter folded name (in bytes), then the folded name in byte order, then the
// ID: the order is total and deterministic.
//
// # Cost
//
// Records are stored in tie-break order, so within a rank results come out in
// record order and a search can stop at the limit instead of sorting every match.
// Tokens are kept sorted in one byte arena with an 8-byte key per token and a
// table of the first two bytes, so a query word becomes a range of token ids by
// binary search. Candidates come from the posting lists of the most selective
// word, each list walked in record order until it passes the worst hit kept; a
// per-posting mask of the record's token bigrams rejects most candidates without
// reading the record, and the rest are checked against the other words by
// comparing token ids with their ranges. Exact matches are found by hash. See
// scan.go for details.
package search

import "hash/maphash"

// Kind tells organisations from people.
type Kind uint8

// Record kinds.
const (
	KindOrganisation Kind = iota + 1
	KindPerson
)

// Record is one searchable entry of the directory.
type Record struct {
	Kind             Kind
	ID               string
	Name             string   // organisation name or person's display name
	Email            string   // people only, lower-case
	OrganisationID   string   // people: their organisation; organisations: own id
	OrganisationName string   // shown with people; not searched
	Domains          []string // organisations only
}

// Hit is one search result. Record points into the index and must not be
// modified; its strings share memory with the index, so clone them to keep them
// beyond the index's life.
type Hit struct {
	Record *Record
	Rank   int // RankExact, RankFirstWord or RankWord
}

// Ranks of a hit, best first.
const (
	RankExact     = 1 // the query equals the name, the e-mail address or a domain
	RankFirstWord = 2 // the first query word is a prefix of the name's first word
	RankWord      = 3 // every query word is a prefix of some token
)

// Query and result bounds.
const (
	MaxLimit      = 50  // Search returns at most this many hits
	MaxQueryWords = 8   // queries with more words match nothing
	MaxQueryBytes = 512 // longer queries match nothing
	minQueryRunes = 2   // queries with fewer folded characters match nothing
)

// noToken marks a record without a name word.
const noToken = ^uint32(0)

// MaxRecords bounds the size of an index, eight times the directory it was made
// for, so that record ids and posting offsets fit in 32 bits even if every
// record has as many tokens as the per-record bounds allow.
const MaxRecords = 1 << 22

// Index is an immutable prefix index over directory records. It is safe for
// concurrent use.
type Index struct {
	recs []Record

	// Distinct tokens in byte order; a token's id is its position.
	tokText string   // token i is tokText[tokOff[i]:tokOff[i+1]]
	tokOff  []uint32 //
	tokKey  []uint64 // first eight bytes of each token, big-endian, zero-padded
	bucket  []uint32 // first token id at or after each two-byte prefix; 1<<16+1 entries

	postOff   []uint32 // records having token i: post[postOff[i]:postOff[i+1]], ascending
	post      []uint32 //
	postMask  []uint32 // mask of each posting's record, see tokenMask
	firstOff  []uint32 // records whose name starts with token i: first[firstOff[i]:firstOff[i+1]]
	first     []uint32 //
	firstMask []uint32 //

	// Record r's first name word (or noToken), then its tokens ascending and
	// prefix-reduced (see reduce): recTok[recOff[r]:recOff[r+1]].
	recOff []uint32
	recTok []uint32

	byEmail []uint32 // records with an e-mail address, ordered by it

	seed      maphash.Seed
	exactHash []uint64 // hashes of exact-match keys, ascending
	exactRec  []uint32 // the record of each exactHash entry
}

// Len returns the number of records.
func (ix *Index) Len() int {
	if ix == nil {
		return 0
	}
	return len(ix.recs)
}

// sizeBytes returns the memory the index takes besides the records.
func (ix *Index) sizeBytes() int {
	u32 := len(ix.tokOff) + len(ix.bucket) + len(ix.postOff) + len(ix.post) + len(ix.firstOff) +
		len(ix.first) + len(ix.recOff) + len(ix.recTok) + len(ix.exactRec) + len(ix.byEmail) + len(ix.postMask) + len(ix.firstMask)
	return len(ix.tokText) + 4*u32 + 8*(len(ix.tokKey)+len(ix.exactHash))
}
