// Package statemgr owns where a meshwave state lives and who may change it:
// FileStore keeps it in a local JSON file, writes it atomically, keeps a
// backup of what it read, and locks it against a second meshwave.
//
// It refuses to overwrite anything it could not read as a meshwave state: a
// corrupt or foreign file is reported, never repaired or replaced.
package statemgr
