package pipeline

import (
	"context"
	"errors"

	"github.com/vigia-dev/vigia/internal/event"
	"github.com/vigia-dev/vigia/internal/resolve"
)

// resolvers runs identity and pod resolution, then learns namespace
// owners for routing.
type resolvers struct {
	identities *resolve.Resolver
	namespaces *resolve.Namespaces
}

func (r resolvers) Resolve(ctx context.Context, evs []*event.Event) error {
	return errors.Join(r.identities.Resolve(ctx, evs), r.namespaces.Learn(ctx, evs))
}
