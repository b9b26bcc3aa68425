package content_test

import (
	"testing"

	"github.com/supportbot/supportbot/content"
)

func TestShippedPackLoads(t *testing.T) {
	ps := content.Lint(content.ShippedFS(), content.ShippedPack)
	for _, p := range ps {
		t.Error(p)
	}
}
