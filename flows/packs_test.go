package flows_test

import (
	"os"
)

// testPacks holds the packs under content/testdata.
var testPacks = os.DirFS("../content/testdata")
