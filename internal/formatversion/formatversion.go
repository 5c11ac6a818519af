// Package formatversion reads the "MAJOR.MINOR" versions of meshwave's file
// formats (the state file, the plan's JSON form) and decides whether this
// build can read a document of a given version.
//
// It is strict on purpose: a version is two unsigned decimal numbers without
// signs, spaces or leading zeros. "+1.0", "1.-1", "01.1" and "1.1.0" are not
// versions, so a document that carries one is refused, never half-read.
package formatversion

import "strconv"

// Readable reports whether a reader of version mine can read a document of
// version theirs: the same major version and a minor version no newer than
// mine. A version that does not parse is not readable.
func Readable(theirs, mine string) bool {
	major, minor, ok := Parse(theirs)
	wantMajor, wantMinor, okMine := Parse(mine)
	return ok && okMine && major == wantMajor && minor <= wantMinor
}

// Parse splits "MAJOR.MINOR" into its numbers; ok is false for anything else.
func Parse(v string) (major, minor uint64, ok bool) {
	dot := -1
	for i := 0; i < len(v); i++ {
		if v[i] == '.' {
			if dot >= 0 {
				return 0, 0, false
			}
			dot = i
		}
	}
	if dot < 0 {
		return 0, 0, false
	}
	major, ok1 := number(v[:dot])
	minor, ok2 := number(v[dot+1:])
	return major, minor, ok1 && ok2
}

// number parses an unsigned decimal without a sign or leading zeros.
func number(s string) (uint64, bool) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}
