// Package statefile owns the on-disk encoding of a meshwave state: a
// versioned JSON document (docs/state-format.md).
//
// Decoding is strict: a document that is not a meshwave state, carries a
// format version this build does not know, or has fields it does not
// understand is an error, never a best guess. Where the bytes live, and who
// may write them, is statemgr's business.
package statefile
