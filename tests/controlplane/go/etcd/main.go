// Command etcd is the etcd server, built from the pinned go.etcd.io/etcd/server/v3 module.
// (`go install go.etcd.io/etcd/server/v3@...` refuses: that module's go.mod has replaces.)
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
