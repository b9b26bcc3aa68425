// Package flows is supportbot's conversation engine.
//
// A content pack describes a conversation as data: states, the step kind of
// each state (choose, ask, answer), the choices and where they lead, which
// slot a free-text answer fills and how it is validated. Compile turns that
// description into github.com/looplab/fsm events, and Engine.Handle runs one
// turn: a pure function of (Session, Input) that returns the next Session and
// the Outputs to show, as content keys. The engine does no I/O and holds no
// sentences; the content package renders keys into text.
//
// A Session is small and serialisable (MarshalBinary), so the FSM is rebuilt
// from it for every message instead of being kept in memory.
package flows
