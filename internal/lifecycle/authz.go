package lifecycle

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Actors are the Slack users allowed to act on a route's groups: user ids
// (U0123ABCD, W…) and user group ids (S0123ABCD), whose members are
// looked up with usergroups.users.list.
type Actors struct {
	Users  []string
	Groups []string
}

// MembersFunc returns the user ids of a Slack user group
// (slack.Client.GetUserGroupMembersContext).
type MembersFunc func(ctx context.Context, group string) ([]string, error)

// Policy decides who may act on which route's groups. Routes without
// actors of their own inherit their parent's; a route with none anywhere
// above refuses everyone (deny by default). Group memberships are cached
// for the policy's TTL; when Slack cannot be asked, a stale membership is
// used if there is one, and the request is refused otherwise.
type Policy struct {
	routes  map[string]Actors
	members MembersFunc
	ttl     time.Duration
	now     func() time.Time

	mu    sync.Mutex
	cache map[string]membership
}

type membership struct {
	users map[string]bool
	at    time.Time
}

// NewPolicy returns a policy over routes (route id — "0", "0.1", … as
// the routing tree names them — to its effective actors). members may be
// nil when no route names groups. ttl defaults to 5 minutes.
func NewPolicy(routes map[string]Actors, members MembersFunc, ttl time.Duration) *Policy {
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	return &Policy{routes: routes, members: members, ttl: ttl, now: time.Now, cache: map[string]membership{}}
}

// Allowed reports whether Slack user userID may act on a group of route
// routeID. A route id the policy does not know (the routing tree changed
// since the group formed) falls back to its nearest known ancestor. The
// error explains a refusal caused by Slack being unreachable.
func (p *Policy) Allowed(ctx context.Context, routeID, userID string) (bool, error) {
	if p == nil || userID == "" {
		return false, nil
	}
	actors, ok := p.actors(routeID)
	if !ok {
		return false, nil
	}
	if slices.Contains(actors.Users, userID) {
		return true, nil
	}
	var errs []string
	for _, g := range actors.Groups {
		m, err := p.membersOf(ctx, g)
		if err != nil {
			errs = append(errs, err.Error())
		}
		if m[userID] {
			return true, nil
		}
	}
	if len(errs) > 0 {
		return false, fmt.Errorf("could not read user group membership: %s", strings.Join(errs, "; "))
	}
	return false, nil
}

// actors returns the effective actors of routeID or its nearest ancestor.
func (p *Policy) actors(routeID string) (Actors, bool) {
	for id := routeID; id != ""; {
		if a, ok := p.routes[id]; ok {
			return a, len(a.Users)+len(a.Groups) > 0
		}
		i := strings.LastIndexByte(id, '.')
		if i < 0 {
			break
		}
		id = id[:i]
	}
	a, ok := p.routes["0"]
	return a, ok && len(a.Users)+len(a.Groups) > 0
}

func (p *Policy) membersOf(ctx context.Context, group string) (map[string]bool, error) {
	p.mu.Lock()
	c, ok := p.cache[group]
	p.mu.Unlock()
	if ok && p.now().Sub(c.at) < p.ttl {
		return c.users, nil
	}
	if p.members == nil {
		return nil, fmt.Errorf("user group %s: no Slack client to look it up", group)
	}
	users, err := p.members(ctx, group)
	if err != nil {
		// Slack down or rate limited: a stale membership beats refusing
		// everyone mid-incident.
		return c.users, fmt.Errorf("user group %s: %w", group, err)
	}
	m := make(map[string]bool, len(users))
	for _, u := range users {
		m[u] = true
	}
	p.mu.Lock()
	p.cache[group] = membership{users: m, at: p.now()}
	p.mu.Unlock()
	return m, nil
}
