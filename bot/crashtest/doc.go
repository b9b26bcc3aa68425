// Package crashtest holds the Dispatcher's end-to-end tests against real
// stores and real processes; it has no code of its own.
//
// The tests re-run their own binary as a child bot process: a Dispatcher on
// a bbolt file or a Redis, with the northwind test pack, that takes updates
// on an HTTP endpoint (answering 200 only once Accept returned nil, so the
// parent redelivers what was not acknowledged, as a platform does) and
// posts each reply to a fake platform in the parent. The parent drives
// scripted conversations, kills the child with SIGKILL at random moments
// or runs two children on one Redis, and checks that every message is
// answered exactly once and every conversation ends where its script
// leads, by running the same scripts through a reference Dispatcher on the
// memory store.
//
// Without Redis (SUPPORTBOT_TEST_REDIS, or a redis-server binary to start)
// the Redis tests skip, except under CI=true, where they fail.
package crashtest
