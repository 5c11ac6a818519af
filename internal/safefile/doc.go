// Package safefile owns how meshwave reads and writes its own files (plan
// files, var files, the state, its backup and lock, saved plans).
//
// Reading: only regular files, refused before they are opened when they are
// a FIFO, device, socket or directory (opening a FIFO blocks), and never
// more than a given size.
//
// Writing: a file is replaced atomically (a temporary file in the same
// directory, fsync, rename, fsync of the directory), never through a
// symlink, and never over a file the caller does not recognise as its own
// kind: a saved plan never replaces the state or a plan source.
//
// It knows nothing of the formats themselves; callers say what they
// recognise.
package safefile
