// Package broker runs the embedded, in-process Kafka-protocol broker
// (franz-go's kfake) used by the demo and by local rule development. It
// speaks the real Kafka protocol over TCP, so kafka-go, kcat or any client
// can produce to it. It keeps everything in memory.
package broker

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Broker is a running embedded broker.
type Broker struct {
	cluster *kfake.Cluster
}

// Start starts a one-node broker listening on addr (host:port; port 0
// picks a free one) with the given topics created, each with partitions
// partitions. Other topics are created on first use.
func Start(addr string, partitions int32, topics ...string) (*Broker, error) {
	return Open(Config{Addr: addr, Partitions: partitions, Topics: topics})
}

// Config configures Open.
type Config struct {
	// Addr is host:port; port 0 picks a free one.
	Addr string
	// Partitions of each topic in Topics and of auto-created topics.
	Partitions int32
	Topics     []string
	// DataDir, when set, keeps the broker's logs, offsets and groups in
	// that directory: a broker closed and opened again on the same
	// directory and address is a restarted broker (the fault tests use
	// this). Default: memory only.
	DataDir string
	// MinSessionTimeout is the smallest consumer-group session timeout
	// accepted. Default: 6s, as on Kafka.
	MinSessionTimeout time.Duration
	// MaxMessageBytes is the largest record batch accepted
	// (message.max.bytes). Default: 1048588, as on Kafka.
	MaxMessageBytes int
}

// Open starts a one-node broker.
func Open(cfg Config) (*Broker, error) {
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: port %q: %w", portStr, err)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(int(cfg.Partitions)),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
		}),
	}
	if len(cfg.Topics) > 0 {
		opts = append(opts, kfake.SeedTopics(cfg.Partitions, cfg.Topics...))
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	if cfg.MaxMessageBytes > 0 {
		opts = append(opts, kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(cfg.MaxMessageBytes)}))
	}
	if cfg.MinSessionTimeout > 0 {
		opts = append(opts, kfake.GroupMinSessionTimeout(cfg.MinSessionTimeout))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded broker on %s: %w", cfg.Addr, err)
	}
	return &Broker{cluster: c}, nil
}

// Addrs returns the broker's listening addresses.
func (b *Broker) Addrs() []string { return b.cluster.ListenAddrs() }

// Close stops the broker; safe twice.
func (b *Broker) Close() {
	if b != nil && b.cluster != nil {
		b.cluster.Close()
		b.cluster = nil
	}
}
