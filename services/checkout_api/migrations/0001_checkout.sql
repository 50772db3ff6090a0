-- Customers and their referral tree. `ancestors` is the upline, nearest first
-- (ancestors[1] = referrer): it is copied from the referrer at registration, and a referrer
-- never changes, so the upline of any depth is one primary-key read (see checkout.upline).
CREATE TABLE checkout.customers (
    id           uuid PRIMARY KEY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    referrer_id  uuid NULL REFERENCES checkout.customers (id),
    ancestors    uuid[] NOT NULL DEFAULT '{}',
    level        integer NOT NULL DEFAULT 1,
    tier         integer NOT NULL DEFAULT 0 CHECK (tier BETWEEN 0 AND 10),
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (referrer_id IS DISTINCT FROM id),
    CHECK (NOT (id = ANY (ancestors))),
    CHECK ((referrer_id IS NULL AND cardinality(ancestors) = 0)
           OR (referrer_id IS NOT NULL AND ancestors[1] = referrer_id))
);
CREATE INDEX customers_referrer ON checkout.customers (referrer_id);

-- The upline of a customer: depth 1 is the direct referrer. The reward worker calls only this.
CREATE FUNCTION checkout.upline(customer uuid, max_depth integer)
RETURNS TABLE (customer_id uuid, depth integer)
LANGUAGE sql STABLE STRICT AS $$
    SELECT a.ancestor, a.position::integer
    FROM checkout.customers c,
         unnest(c.ancestors[1:greatest(max_depth, 0)]) WITH ORDINALITY AS a(ancestor, position)
    WHERE c.id = customer
    ORDER BY a.position
$$;

-- The catalogue. Prices are integer cents and are read at checkout time, never from a client.
CREATE TABLE checkout.products (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    price       bigint NOT NULL CHECK (price > 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX products_listing ON checkout.products (name, id);

CREATE TABLE checkout.cart_items (
    customer_id  uuid NOT NULL REFERENCES checkout.customers (id),
    product_id   uuid NOT NULL REFERENCES checkout.products (id),
    quantity     integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    added_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, product_id)
);

-- Paid checkouts. rewards_status moves pending -> done once (the reward worker's guard);
-- reward_enqueued_at is when the reward job was last written to the outbox (reconciler).
CREATE TABLE checkout.transactions (
    id                  uuid PRIMARY KEY,
    customer_id         uuid NOT NULL REFERENCES checkout.customers (id),
    total               bigint NOT NULL CHECK (total > 0),
    balance_after       bigint NOT NULL CHECK (balance_after >= 0),
    rewards_status      text NOT NULL DEFAULT 'pending' CHECK (rewards_status IN ('pending', 'done')),
    rewards_done_at     timestamptz,
    reward_enqueued_at  timestamptz NOT NULL DEFAULT now(),
    reward_enqueues     integer NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transactions_customer ON checkout.transactions (customer_id, created_at DESC);
CREATE INDEX transactions_rewards_pending ON checkout.transactions (reward_enqueued_at)
    WHERE rewards_status = 'pending';

CREATE TABLE checkout.transaction_items (
    transaction_id  uuid NOT NULL REFERENCES checkout.transactions (id),
    product_id      uuid NOT NULL REFERENCES checkout.products (id),
    name            text NOT NULL,
    unit_price      bigint NOT NULL CHECK (unit_price > 0),
    quantity        integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (transaction_id, product_id)
);
