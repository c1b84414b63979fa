// Command coredns is upstream CoreDNS's entry point (coremain.Run, as its coredns.go) built with the
// plugins kubeadm's default Corefile names, plus log. Upstream's core/plugin links every plugin,
// which drags in the AWS, Azure, Google Cloud and Datadog SDKs: several times the build for
// plugins a kind cluster never loads. A Corefile naming another plugin fails to parse, loudly.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() {
	coremain.Run()
}
