// Package bot connects the conversation engine to the platforms: the
// platform-neutral messages (Update in, Reply out), the Store it needs, and
// the Dispatcher that runs turns in order per conversation.
//
// # Exactly once
//
// A message is answered exactly once, even when a platform redelivers it,
// the process crashes, or several replicas share one Redis. The Dispatcher
// keeps this order:
//
//  1. Accept records an incoming delivery durably in the inbox (PutInbox)
//     before the adapter acknowledges the platform (webhook 200, Slack ack,
//     Telegram offset). A delivery whose id is already done is dropped
//     there.
//  2. A worker takes the conversation's lease and loads it (Begin). It runs
//     the turn, then writes the new session, the delivery id (as done) and
//     the turn's replies (the outbox) in one atomic Commit, checked against
//     the session's version so two processes can never both advance one
//     conversation.
//  3. Replies are sent in order; each but the last is marked sent
//     (MarkSent) in the background as soon as the platform accepted it,
//     and replies accepted while a mark is being written share the next
//     write, or are left to Finish if the turn is over by then.
//  4. Only then is the inbox entry done: one write (Finish) removes it,
//     releases the lease and marks every reply of the turn, so none is
//     lost if an early mark failed or was left out.
//
// On start, periodically, and on a redelivery, unfinished inbox entries are
// run again: Begin first sends any unsent outbox replies, and a delivery
// whose id is done sends nothing more. A crash at any point therefore
// neither loses a message nor answers it twice, except for a reply the
// platform accepted in the instant before its mark (or the Finish right
// after the turn's last send) was written.
package bot
