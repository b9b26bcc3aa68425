package bot

import (
	"testing"
	"time"

	"github.com/supportbot/supportbot/content"
)

// BenchmarkTurn measures one turn as the Dispatcher runs it, without the
// store: decode the session, rebuild the FSM, handle the input, render the
// replies, encode the session and the outbox. It cycles through whole
// conversations on the shipped pack, the final answer included, so the
// figures are an average over real turns.
//
//	go test ./bot -run '^$' -bench BenchmarkTurn -benchmem
func BenchmarkTurn(b *testing.B) {
	pack, err := content.Shipped()
	if err != nil {
		b.Fatal(err)
	}
	d, err := New(Config{Store: nopStore{}, Pack: pack})
	if err != nil {
		b.Fatal(err)
	}
	d.cfg.Now = func() time.Time { return time.Unix(1790000000, 0) }
	convs := [][]Update{
		{
			{Kind: KindCommand, Command: "start"},
			{Kind: KindText, Text: "2"},
			{Kind: KindText, Text: "123 1234567 1234567"},
			{Kind: KindText, Text: "The parcel came with a cracked screen"},
			{Kind: KindButton, Data: "press:1"},
		},
		{
			{Kind: KindText, Text: "atmaksa", Lang: "lv"},
			{Kind: KindButton, Data: "press:0"},
			{Kind: KindButton, Data: "press:0"},
			{Kind: KindText, Text: "e-pasts", Lang: "lv"},
			{Kind: KindButton, Data: "press:0"},
		},
	}
	// One benchmark op is one turn, so ns/op and allocs/op are per turn.
	var all []Update
	for _, conv := range convs {
		all = append(all, conv...)
	}
	var rec Record
	var last []Reply
	i := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if i%len(all) == 0 || all[i%len(all)].Kind == KindCommand || i%len(all) == len(convs[0]) {
			rec, last = Record{}, nil // a new conversation
		}
		u := all[i%len(all)]
		i++
		u.ID, u.Platform, u.Conv, u.User = "x", "console", "c", "u"
		if u.Kind == KindButton {
			u.Data = pickButton(last, u.Data)
		}
		c, replies, _ := d.turn(&u, &rec)
		rec.Session, rec.Version = c.Session, rec.Version+1
		last = replies
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "turns/s")
}

// pickButton reads "press:N": the Nth button of the last replies.
func pickButton(replies []Reply, spec string) string {
	n := int(spec[len(spec)-1] - '0')
	for _, r := range replies {
		if len(r.Buttons) > 0 {
			return r.Buttons[n].Data
		}
	}
	return spec
}
