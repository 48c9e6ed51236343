// The conformance corpus generator. It reads the source of the Gateway API conformance module at
// the version the test control plane pins (tests/controlplane/go/gatewayapi/go.mod); it imports
// nothing from it, so the module is only downloaded, never compiled.
module gwwatch.test/conformance/generate

go 1.26.0
