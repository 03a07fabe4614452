package main

// The parts of the bootstrap `contour bootstrap` writes that Envoy uses to reach Contour: the
// xDS cluster's address, its TLS (SNI, TLS versions, certificate and trust, inline or through
// file-based SDS). Contour writes protobuf JSON; keys are accepted in both of its spellings
// (proto names and lowerCamel), as Envoy's parser does.

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"unicode"
)

type dataSource struct {
	Filename string `json:"filename"`
}

type tlsCertificate struct {
	CertificateChain dataSource `json:"certificate_chain"`
	PrivateKey       dataSource `json:"private_key"`
}

type sanMatcher struct {
	SanType string `json:"san_type"`
	Matcher struct {
		Exact string `json:"exact"`
	} `json:"matcher"`
}

type validationContext struct {
	TrustedCA                 dataSource   `json:"trusted_ca"`
	MatchTypedSubjectAltNames []sanMatcher `json:"match_typed_subject_alt_names"`
}

type sdsSecretConfig struct {
	Name      string `json:"name"`
	SdsConfig struct {
		Path             string `json:"path"`
		PathConfigSource struct {
			Path string `json:"path"`
		} `json:"path_config_source"`
	} `json:"sds_config"`
}

func (s sdsSecretConfig) path() string {
	if s.SdsConfig.PathConfigSource.Path != "" {
		return s.SdsConfig.PathConfigSource.Path
	}
	return s.SdsConfig.Path
}

type commonTLSContext struct {
	TLSParams struct {
		Min string `json:"tls_minimum_protocol_version"`
		Max string `json:"tls_maximum_protocol_version"`
	} `json:"tls_params"`
	TLSCertificates                []tlsCertificate   `json:"tls_certificates"`
	TLSCertificateSdsSecretConfigs []sdsSecretConfig  `json:"tls_certificate_sds_secret_configs"`
	ValidationContext              *validationContext `json:"validation_context"`
	ValidationContextSdsSecret     *sdsSecretConfig   `json:"validation_context_sds_secret_config"`
}

type cluster struct {
	Name           string `json:"name"`
	Type           string `json:"type"`
	LoadAssignment struct {
		Endpoints []struct {
			LbEndpoints []struct {
				Endpoint struct {
					Address struct {
						SocketAddress struct {
							Address   string `json:"address"`
							PortValue int    `json:"port_value"`
						} `json:"socket_address"`
					} `json:"address"`
				} `json:"endpoint"`
			} `json:"lb_endpoints"`
		} `json:"endpoints"`
	} `json:"load_assignment"`
	TransportSocket *struct {
		Name        string `json:"name"`
		TypedConfig struct {
			Type             string           `json:"@type"`
			Sni              string           `json:"sni"`
			CommonTLSContext commonTLSContext `json:"common_tls_context"`
		} `json:"typed_config"`
	} `json:"transport_socket"`
}

type apiConfigSource struct {
	APIType      string `json:"api_type"`
	GrpcServices []struct {
		EnvoyGrpc struct {
			ClusterName string `json:"cluster_name"`
			Authority   string `json:"authority"`
		} `json:"envoy_grpc"`
	} `json:"grpc_services"`
}

// configSource is where one xDS type comes from: ADS (`ads: {}`) or its own gRPC service.
type configSource struct {
	Ads             *struct{}        `json:"ads"`
	APIConfigSource *apiConfigSource `json:"api_config_source"`
}

type bootstrapFile struct {
	StaticResources struct {
		Clusters []cluster `json:"clusters"`
	} `json:"static_resources"`
	DynamicResources struct {
		AdsConfig *apiConfigSource `json:"ads_config"`
		CdsConfig *configSource    `json:"cds_config"`
		LdsConfig *configSource    `json:"lds_config"`
	} `json:"dynamic_resources"`
}

// xdsCall is one gRPC stream Envoy opens to the xDS cluster and the types it asks for on it,
// in Envoy's order (clusters before listeners).
type xdsCall struct {
	Path  string
	Types []string
}

// xdsTarget is what the stand-in takes from the bootstrap: where xDS is and how to reach it.
type xdsTarget struct {
	Calls      []xdsCall
	Cluster    string
	Host       string
	Port       int
	Sni        string
	MinVersion string
	MaxVersion string
	// Either inline files or SDS files naming them (resolved on every load, see files.go).
	InlineCert  *tlsCertificate
	InlineCA    *validationContext
	CertSdsPath string
	CASdsPath   string
}

func (x xdsTarget) String() string {
	tlsFrom := "inline paths in the bootstrap"
	if x.CertSdsPath != "" || x.CASdsPath != "" {
		tlsFrom = fmt.Sprintf("file-based SDS %s, %s", x.CertSdsPath, x.CASdsPath)
	}
	or := func(s, d string) string {
		if s == "" {
			return d
		}
		return s
	}
	var calls []string
	for _, c := range x.Calls {
		calls = append(calls, c.Path)
	}
	return fmt.Sprintf("xds cluster %q at %s:%d (gRPC %s; TLS %s..%s, SNI %s, certificates from %s)", x.Cluster, x.Host, x.Port,
		strings.Join(calls, " and "), or(x.MinVersion, "TLS_AUTO"), or(x.MaxVersion, "TLS_AUTO"), or(x.Sni, "none"), tlsFrom)
}

// snakeKeys rewrites lowerCamel JSON keys to proto names; "@type" and snake keys stay.
func snakeKeys(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			out[toSnake(k)] = snakeKeys(val)
		}
		return out
	case []any:
		for i := range t {
			t[i] = snakeKeys(t[i])
		}
		return t
	default:
		return v
	}
}

func toSnake(k string) string {
	var b strings.Builder
	for _, r := range k {
		if unicode.IsUpper(r) {
			b.WriteByte('_')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// decodeProtoJSON decodes protobuf JSON in either key spelling into out.
func decodeProtoJSON(data []byte, out any) error {
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	normal, err := json.Marshal(snakeKeys(raw))
	if err != nil {
		return err
	}
	return json.Unmarshal(normal, out)
}

func readBootstrap(path string) (xdsTarget, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return xdsTarget{}, err
	}
	var b bootstrapFile
	if err := decodeProtoJSON(data, &b); err != nil {
		return xdsTarget{}, fmt.Errorf("%s: %w", path, err)
	}
	calls, name, err := xdsCalls(b)
	if err != nil {
		return xdsTarget{}, fmt.Errorf("%s: %w", path, err)
	}
	for _, c := range b.StaticResources.Clusters {
		if c.Name != name {
			continue
		}
		x := xdsTarget{Cluster: name, Calls: calls}
		eps := c.LoadAssignment.Endpoints
		if len(eps) == 0 || len(eps[0].LbEndpoints) == 0 {
			return x, fmt.Errorf("%s: cluster %q has no endpoint", path, name)
		}
		sa := eps[0].LbEndpoints[0].Endpoint.Address.SocketAddress
		x.Host, x.Port = sa.Address, sa.PortValue
		if c.TransportSocket == nil {
			return x, fmt.Errorf("%s: cluster %q has no transport socket: plaintext xDS (--insecure), nothing for a TLS stand-in to do", path, name)
		}
		tc := c.TransportSocket.TypedConfig
		x.Sni = tc.Sni
		x.MinVersion, x.MaxVersion = tc.CommonTLSContext.TLSParams.Min, tc.CommonTLSContext.TLSParams.Max
		ctx := tc.CommonTLSContext
		switch {
		case len(ctx.TLSCertificateSdsSecretConfigs) > 0:
			x.CertSdsPath = ctx.TLSCertificateSdsSecretConfigs[0].path()
		case len(ctx.TLSCertificates) > 0:
			x.InlineCert = &ctx.TLSCertificates[0]
		default:
			return x, fmt.Errorf("%s: cluster %q has no client certificate", path, name)
		}
		switch {
		case ctx.ValidationContextSdsSecret != nil:
			x.CASdsPath = ctx.ValidationContextSdsSecret.path()
		case ctx.ValidationContext != nil:
			x.InlineCA = ctx.ValidationContext
		default:
			return x, fmt.Errorf("%s: cluster %q has no validation context", path, name)
		}
		return x, nil
	}
	return xdsTarget{}, fmt.Errorf("%s: no static cluster %q for ads", path, name)
}

// xdsCalls reads how Envoy would fetch clusters and listeners: over ADS when cds_config and
// lds_config say `ads`, else each over its own gRPC service (Contour's bootstrap does this:
// api_config_source GRPC for both). All of them must name one cluster.
func xdsCalls(b bootstrapFile) ([]xdsCall, string, error) {
	d := b.DynamicResources
	var calls []xdsCall
	var ads xdsCall
	names := map[string]bool{}
	for _, t := range []struct {
		src     *configSource
		typeURL string
		path    string
	}{{d.CdsConfig, clusterType, cdsPath}, {d.LdsConfig, listenerType, ldsPath}} {
		switch {
		case t.src == nil:
			continue
		case t.src.Ads != nil:
			if d.AdsConfig == nil || d.AdsConfig.APIType != "GRPC" || len(d.AdsConfig.GrpcServices) == 0 {
				return nil, "", fmt.Errorf("%s from ads, but no gRPC ads_config", t.typeURL)
			}
			names[d.AdsConfig.GrpcServices[0].EnvoyGrpc.ClusterName] = true
			ads.Path = adsPath
			ads.Types = append(ads.Types, t.typeURL)
		case t.src.APIConfigSource != nil && t.src.APIConfigSource.APIType == "GRPC" && len(t.src.APIConfigSource.GrpcServices) > 0:
			names[t.src.APIConfigSource.GrpcServices[0].EnvoyGrpc.ClusterName] = true
			calls = append(calls, xdsCall{Path: t.path, Types: []string{t.typeURL}})
		default:
			return nil, "", fmt.Errorf("%s: neither ads nor a gRPC api_config_source", t.typeURL)
		}
	}
	if ads.Path != "" {
		calls = append([]xdsCall{ads}, calls...)
	}
	if len(calls) == 0 || len(names) != 1 {
		return nil, "", fmt.Errorf("want cds_config and lds_config over gRPC from one cluster, got %d streams from clusters %v", len(calls), names)
	}
	for n := range names {
		return calls, n, nil
	}
	return nil, "", nil
}

// sdsFile is a file-based SDS resource file: {"resources": [Secret]}.
type sdsFile struct {
	Resources []struct {
		Type              string             `json:"@type"`
		Name              string             `json:"name"`
		TLSCertificate    *tlsCertificate    `json:"tls_certificate"`
		ValidationContext *validationContext `json:"validation_context"`
	} `json:"resources"`
}

func readSds(path string) (sdsFile, error) {
	var s sdsFile
	data, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	if err := decodeProtoJSON(data, &s); err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	if len(s.Resources) == 0 {
		return s, fmt.Errorf("%s: no resources", path)
	}
	return s, nil
}
