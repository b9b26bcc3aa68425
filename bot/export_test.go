package bot

// SetTestHook runs f inside every turn (tests make it panic).
func (d *Dispatcher) SetTestHook(f func(*Update)) { d.testHook = f }

// EncodeUpdate exposes the inbox encoding to tests.
func EncodeUpdate(u Update) ([]byte, error) { return encodeUpdate(&u) }
