package telegram

import "time"

// SetRetry shortens the backoff of server and network errors for tests.
func SetRetry(b *Bot, min, max time.Duration) { b.retryMin, b.retryMax = min, max }
