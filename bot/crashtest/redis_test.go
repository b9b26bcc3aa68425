package crashtest

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

var prefixes atomic.Int64

// uniquePrefix keeps test runs apart on a shared Redis; cleanPrefix
// deletes a prefix's keys after the test.
func uniquePrefix(t testing.TB, url string) string {
	p := fmt.Sprintf("sbcrash-%d-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9, prefixes.Add(1))
	t.Cleanup(func() { cleanPrefix(url, p) })
	return p
}

func cleanPrefix(url, prefix string) {
	o, err := goredis.ParseURL(url)
	if err != nil {
		return
	}
	o.DisableIdentity = true
	c := goredis.NewClient(o)
	defer c.Close()
	iter := c.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		c.Del(ctx, iter.Val())
	}
}

// rawClient is a plain client, for tests that write what the store never
// would.
func rawClient(t *testing.T, url string) *goredis.Client {
	t.Helper()
	o, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	o.DisableIdentity = true
	c := goredis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}
