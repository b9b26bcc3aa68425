package slacktest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Socket Mode envelope types.
const (
	EventsAPI     = "events_api"
	SlashCommands = "slash_commands"
	Interactive   = "interactive"
)

type sockets struct {
	mu       sync.Mutex
	conns    []*sockConn // newest last
	pending  map[string]*envelope
	queue    []*envelope                // waiting for a connection
	acked    map[string]json.RawMessage // by the first copy's envelope id
	first    map[string]string          // envelope id → the first copy's
	dials    int
	seq      int
	closed   bool
	upgrader websocket.Upgrader
}

type sockConn struct {
	ws   *websocket.Conn
	wmu  sync.Mutex
	dead chan struct{}
	once sync.Once
}

type envelope struct {
	id       string
	typ      string
	payload  json.RawMessage
	attempt  int
	conn     *sockConn
	deadline time.Time
	first    string // the envelope id of the first copy
}

func (ss *sockets) init() {
	ss.pending = map[string]*envelope{}
	ss.acked = map[string]json.RawMessage{}
	ss.first = map[string]string{}
	ss.upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
}

func (c *sockConn) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

func (c *sockConn) kill() {
	c.once.Do(func() {
		close(c.dead)
		c.ws.UnderlyingConn().Close()
	})
}

// websocket serves a Socket Mode connection: hello, then envelopes; it
// reads acknowledgements and pings the client.
func (s *Server) websocket(w http.ResponseWriter, r *http.Request) {
	ws, err := s.sock.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &sockConn{ws: ws, dead: make(chan struct{})}
	ss := &s.sock
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		ws.Close()
		return
	}
	ss.dials++
	ss.conns = append(ss.conns, c)
	ss.mu.Unlock()
	defer s.connGone(c)

	if err := c.write(map[string]any{"type": "hello", "num_connections": 1,
		"connection_info": map[string]any{"app_id": AppID},
		"debug_info":      map[string]any{"host": "fake", "approximate_connection_time": 3600}}); err != nil {
		return
	}
	s.flush()
	go func() { // pings, and redelivery of envelopes not acknowledged in time
		t := time.NewTicker(min(s.opts.PingInterval, 200*time.Millisecond))
		defer t.Stop()
		lastPing := time.Now()
		for {
			select {
			case <-c.dead:
				return
			case now := <-t.C:
				if now.Sub(lastPing) >= s.opts.PingInterval {
					lastPing = now
					c.wmu.Lock()
					err := c.ws.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(5*time.Second))
					c.wmu.Unlock()
					if err != nil {
						c.kill()
						return
					}
				}
				if s.opts.AckTimeout > 0 {
					s.redeliverLate(now)
				}
			}
		}
	}()
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(data, &ack) != nil || ack.EnvelopeID == "" {
			continue
		}
		ss.mu.Lock()
		if e := ss.pending[ack.EnvelopeID]; e != nil {
			delete(ss.pending, ack.EnvelopeID)
		}
		if f, ok := ss.first[ack.EnvelopeID]; ok {
			if _, done := ss.acked[f]; !done {
				ss.acked[f] = ack.Payload
			}
		}
		ss.mu.Unlock()
		s.mu.Lock()
		s.notify()
		s.mu.Unlock()
	}
}

// connGone requeues what the connection had not acknowledged: Slack sends
// it again, with a new envelope id, on the next connection.
func (s *Server) connGone(c *sockConn) {
	c.kill()
	ss := &s.sock
	ss.mu.Lock()
	for i, x := range ss.conns {
		if x == c {
			ss.conns = append(ss.conns[:i], ss.conns[i+1:]...)
			break
		}
	}
	for id, e := range ss.pending {
		if e.conn == c {
			delete(ss.pending, id)
			ss.requeue(e)
		}
	}
	ss.mu.Unlock()
	s.flush()
	s.mu.Lock()
	s.notify()
	s.mu.Unlock()
}

// requeue gives e a new envelope id and queues it; ss.mu is held.
func (ss *sockets) requeue(e *envelope) {
	ss.seq++
	e.id = "env-" + strconv.Itoa(ss.seq)
	ss.first[e.id] = e.first
	e.attempt++
	e.conn = nil
	ss.queue = append(ss.queue, e)
}

// flush sends queued envelopes on the newest connection.
func (s *Server) flush() {
	ss := &s.sock
	for {
		ss.mu.Lock()
		if len(ss.queue) == 0 || len(ss.conns) == 0 {
			ss.mu.Unlock()
			return
		}
		c := ss.conns[len(ss.conns)-1]
		e := ss.queue[0]
		ss.queue = ss.queue[1:]
		e.conn = c
		e.deadline = time.Now().Add(s.opts.AckTimeout)
		ss.pending[e.id] = e
		msg := map[string]any{"envelope_id": e.id, "type": e.typ, "payload": e.payload,
			"accepts_response_payload": e.typ != EventsAPI, "retry_attempt": e.attempt}
		if e.attempt > 0 {
			msg["retry_reason"] = "timeout"
		}
		ss.mu.Unlock()
		if err := c.write(msg); err != nil {
			c.kill() // connGone requeues it
		}
	}
}

func (s *Server) redeliverLate(now time.Time) {
	ss := &s.sock
	ss.mu.Lock()
	n := 0
	for id, e := range ss.pending {
		if now.After(e.deadline) {
			delete(ss.pending, id)
			ss.requeue(e)
			n++
		}
	}
	ss.mu.Unlock()
	if n > 0 {
		s.flush()
	}
}

// Deliver sends an envelope over Socket Mode (queued until a client is
// connected) and returns its envelope id.
func (s *Server) Deliver(typ string, payload []byte) string {
	ss := &s.sock
	ss.mu.Lock()
	ss.seq++
	e := &envelope{id: "env-" + strconv.Itoa(ss.seq), typ: typ, payload: json.RawMessage(payload)}
	e.first = e.id
	ss.first[e.id] = e.id
	ss.queue = append(ss.queue, e)
	id := e.id
	ss.mu.Unlock()
	s.flush()
	return id
}

// Acked reports whether an envelope (or a redelivered copy of it) was
// acknowledged, and the payload of the first acknowledgement.
func (s *Server) Acked(envelopeID string) (json.RawMessage, bool) {
	s.sock.mu.Lock()
	defer s.sock.mu.Unlock()
	p, ok := s.sock.acked[envelopeID]
	return p, ok
}

// AckCount is how many envelopes were acknowledged (copies counted once).
func (s *Server) AckCount() int {
	s.sock.mu.Lock()
	defer s.sock.mu.Unlock()
	return len(s.sock.acked)
}

// Unacked is how many envelopes wait for a connection or an ack.
func (s *Server) Unacked() int {
	s.sock.mu.Lock()
	defer s.sock.mu.Unlock()
	return len(s.sock.pending) + len(s.sock.queue)
}

// Dials is how many websocket connections were opened.
func (s *Server) Dials() int {
	s.sock.mu.Lock()
	defer s.sock.mu.Unlock()
	return s.sock.dials
}

// Connected is how many websocket connections are open.
func (s *Server) Connected() int {
	s.sock.mu.Lock()
	defer s.sock.mu.Unlock()
	return len(s.sock.conns)
}

// DropSockets closes every connection abruptly, as a network failure
// would; unacknowledged envelopes are redelivered on the next one.
func (s *Server) DropSockets() {
	s.sock.mu.Lock()
	conns := append([]*sockConn(nil), s.sock.conns...)
	s.sock.mu.Unlock()
	for _, c := range conns {
		c.kill()
	}
}

// RefreshSockets asks every client to reconnect ("disconnect" with
// refresh_requested), as Slack does regularly.
func (s *Server) RefreshSockets() {
	s.sock.mu.Lock()
	conns := append([]*sockConn(nil), s.sock.conns...)
	s.sock.mu.Unlock()
	for _, c := range conns {
		c.write(map[string]any{"type": "disconnect", "reason": "refresh_requested",
			"debug_info": map[string]any{"host": "fake"}})
	}
}

func (ss *sockets) closeAll() {
	ss.mu.Lock()
	ss.closed = true
	conns := append([]*sockConn(nil), ss.conns...)
	ss.mu.Unlock()
	for _, c := range conns {
		c.kill()
	}
}
