package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/vigia-dev/vigia/internal/config"
	"github.com/vigia-dev/vigia/internal/outbox"
	"github.com/vigia-dev/vigia/internal/route"
	"github.com/vigia-dev/vigia/internal/secret"
	"github.com/vigia-dev/vigia/internal/telemetry"
)

// delivery is the routing and delivery stage: the router the processor
// hands alerts to, the outbox, and one dispatcher per receiver.
type delivery struct {
	router *route.Router
	queue  outbox.Queue
	states outbox.States
	names  []string
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// routeSpec converts the configured routing tree.
func routeSpec(r config.Route) route.Spec {
	s := route.Spec{
		Receivers: r.Receivers, Matchers: r.Matchers, Continue: r.Continue, GroupBy: r.GroupBy,
		GroupWait: r.GroupWait, GroupInterval: r.GroupInterval, RepeatInterval: r.RepeatInterval, ResolveTimeout: r.ResolveTimeout,
		MuteTimeIntervals: r.MuteTimeIntervals, ActiveTimeIntervals: r.ActiveTimeIntervals,
	}
	for _, c := range r.Routes {
		s.Routes = append(s.Routes, routeSpec(c))
	}
	return s
}

// claimTimeout is the Redis takeover delay: longer than any group can
// legitimately hold its entries.
func claimTimeout(cfg *config.Config, tree *route.Tree) time.Duration {
	if cfg.Delivery.ClaimTimeout > 0 {
		return cfg.Delivery.ClaimTimeout
	}
	longest := time.Duration(0)
	var walk func(n *route.Node)
	walk = func(n *route.Node) {
		longest = max(longest, n.GroupWait, n.GroupInterval)
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(tree.Root)
	return longest + cfg.Route.RetryTimeout + time.Minute
}

// redisClient connects to the configured Redis and checks it answers.
func redisClient(ctx context.Context, r *config.Redis) (*redis.Client, error) {
	password, err := secret.Read(r.PasswordEnv, r.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("redis password: %w", err)
	}
	opts := &redis.Options{Addr: r.Addr, Username: r.Username, Password: password, DB: r.DB}
	if opts.TLSConfig, err = redisTLS(r.TLS); err != nil {
		return nil, err
	}
	c := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis %s: %w", r.Addr, err)
	}
	return c, nil
}

// deliveryDeps are what startDelivery needs from the rest of Run.
type deliveryDeps struct {
	cfg       *config.Config
	receivers map[string]builtReceiver
	redis     *redis.Client // nil: the file outbox in cfg.DataDir
	owners    route.Owners
	silencer  route.Silencer
	intervals route.Intervals
	metrics   *telemetry.Metrics
	tracer    trace.Tracer
	log       *slog.Logger
}

// startDelivery opens the outbox and starts a dispatcher per receiver.
func startDelivery(ctx context.Context, d deliveryDeps) (*delivery, error) {
	cfg := d.cfg
	tree, err := route.Compile(routeSpec(cfg.Route))
	if err != nil {
		return nil, err
	}
	inhibit := make([]route.InhibitSpec, len(cfg.InhibitRules))
	for i, r := range cfg.InhibitRules {
		inhibit[i] = route.InhibitSpec{SourceMatchers: r.SourceMatchers, TargetMatchers: r.TargetMatchers, Equal: r.Equal}
	}
	inhibitRules, err := route.CompileInhibitRules(inhibit)
	if err != nil {
		return nil, err
	}
	var queue interface {
		outbox.Queue
		outbox.States
	}
	if d.redis != nil {
		queue, err = outbox.NewRedis(d.redis, outbox.RedisOptions{Prefix: cfg.Redis.KeyPrefix, ClaimTimeout: claimTimeout(cfg, tree)})
	} else {
		queue, err = outbox.NewFile(cfg.DataDir, outbox.FileOptions{})
	}
	if err != nil {
		return nil, err
	}
	// Receivers the tree can reach get a dispatcher.
	var names []string
	var walk func(n *route.Node)
	walk = func(n *route.Node) {
		for _, r := range n.Receivers {
			if !slices.Contains(names, r) {
				names = append(names, r)
			}
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(tree.Root)
	dm, err := d.metrics.Delivery(func(ctx context.Context, observe func(string, int64)) {
		for _, n := range names {
			if l, err := queue.Len(ctx, n); err == nil {
				observe(n, l)
			}
		}
	})
	if err != nil {
		queue.Close()
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	del := &delivery{queue: queue, states: queue, names: names, cancel: cancel}
	del.router = route.New(route.Config{Tree: tree, Queue: queue, Owners: d.owners, MinSeverity: cfg.Route.MinSeverity, Logger: d.log})
	for _, name := range names {
		br, ok := d.receivers[name]
		if !ok {
			cancel()
			queue.Close()
			return nil, fmt.Errorf("route: receiver %q is not configured", name)
		}
		disp := route.NewDispatcher(route.DispatcherConfig{
			Receiver: name, Deliverer: br.receiver, Locale: br.locale,
			Tree: tree, Queue: queue, States: queue,
			Silencer: d.silencer, Intervals: d.intervals, InhibitRules: inhibitRules,
			SendTimeout: cfg.Route.SendTimeout, RetryTimeout: cfg.Route.RetryTimeout, StateTTL: cfg.Delivery.StateTTL,
			Metrics: dm, Logger: d.log, Tracer: d.tracer,
		})
		del.wg.Add(1)
		go func() {
			defer del.wg.Done()
			disp.Run(dctx)
		}()
	}
	return del, nil
}

// sync makes the outbox durable on disk before offsets are committed.
func (d *delivery) sync() error {
	if s, ok := d.queue.(outbox.Syncer); ok {
		return s.Sync()
	}
	return nil
}

// Pending returns the undelivered outbox entries across receivers.
func (d *delivery) Pending(ctx context.Context) (int64, error) {
	var total int64
	for _, n := range d.names {
		l, err := d.queue.Len(ctx, n)
		if err != nil {
			return 0, err
		}
		total += l
	}
	return total, nil
}

// stop stops the dispatchers; what they had not delivered stays in the
// outbox for the next start.
func (d *delivery) stop() {
	d.cancel()
	d.wg.Wait()
	d.queue.Close()
}
