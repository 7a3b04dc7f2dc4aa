// Package broker runs the embedded, in-process Kafka-protocol broker
// (franz-go's kfake) used by the demo and by local rule development. It
// speaks the real Kafka protocol over TCP, so kafka-go, kcat or any client
// can produce to it. It keeps everything in memory.
package broker

import (
	"fmt"
	"net"
	"strconv"

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
	host, portStr, err := net.SplitHostPort(addr)
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
		kfake.DefaultNumPartitions(int(partitions)),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
		}),
	}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(partitions, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded broker on %s: %w", addr, err)
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
