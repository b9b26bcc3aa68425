package flows_test

import (
	"testing"

	"github.com/supportbot/supportbot/flows"
)

func TestSessionRoundTrip(t *testing.T) {
	s := flows.Session{Flow: "amazon", Version: 3, State: "channel", Lang: "lv", Nonce: 4000000000,
		Slots:   []flows.Slot{{"problem", "refund"}, {"order", "123-1234567-1234567"}, {"details", "Pakā bija salūzis ekrāns"}},
		Created: 1790000000, Updated: -5}
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got flows.Session
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !sameSession(got, s) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, s)
	}
	if len(b) > 200 {
		t.Errorf("encoded session is %d bytes; it should stay compact", len(b))
	}
}

func TestSessionCorrupt(t *testing.T) {
	s := flows.Session{Flow: "amazon", State: "order", Lang: "en", Slots: []flows.Slot{{"problem", "return"}}}
	b, _ := s.MarshalBinary()
	cases := map[string][]byte{
		"empty":          nil,
		"wrong format":   append([]byte{9}, b[1:]...),
		"truncated":      b[:len(b)-3],
		"trailing bytes": append(append([]byte{}, b...), 0),
		"huge length":    {1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"text":           []byte(`{"state":"order"}`),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			var got flows.Session
			if err := got.UnmarshalBinary(data); err != flows.ErrBadSession {
				t.Fatalf("err = %v, want ErrBadSession", err)
			}
		})
	}
}
