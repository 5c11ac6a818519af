// Package states owns the model of a meshwave state: which steps of which
// plan ran, how far each got, and what each recorded before it changed the
// cluster.
//
// It is pure data. Encoding it is statefile's job; locking and persisting it
// is statemgr's. It never touches the filesystem and never imports client-go.
package states
