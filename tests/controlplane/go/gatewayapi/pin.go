//go:build tools

// Package gatewayapi exists only so that `go mod tidy` keeps the sigs.k8s.io/gateway-api
// requirement (and its checksum) in go.mod/go.sum: the tests read the module's
// config/crd/standard/*.yaml, not its Go code. pkg/consts imports nothing.
package gatewayapi

import _ "sigs.k8s.io/gateway-api/pkg/consts"
