-- The referral tree is guarded by the database itself: the upline of a new customer is
-- derived from its referrer (never trusted from the writer), and a referrer never changes
-- afterwards. A referrer must exist before the customers it refers, so no cycle can form.
ALTER TABLE checkout.customers
    ADD CONSTRAINT customers_upline_starts_at_referrer
        CHECK (ancestors[1] IS NOT DISTINCT FROM referrer_id),
    ADD CONSTRAINT customers_upline_has_no_nulls
        CHECK (array_position(ancestors, NULL) IS NULL);

CREATE FUNCTION checkout.customers_derive_upline() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.referrer_id IS DISTINCT FROM OLD.referrer_id
           OR NEW.ancestors IS DISTINCT FROM OLD.ancestors THEN
            RAISE EXCEPTION 'the referrer of customer % cannot change', OLD.id
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.referrer_id IS NULL THEN
        NEW.ancestors := '{}';
    ELSE
        SELECT NEW.referrer_id || c.ancestors INTO NEW.ancestors
        FROM checkout.customers c WHERE c.id = NEW.referrer_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'referrer % does not exist', NEW.referrer_id
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER customers_derive_upline
    BEFORE INSERT OR UPDATE OF referrer_id, ancestors ON checkout.customers
    FOR EACH ROW EXECUTE FUNCTION checkout.customers_derive_upline();
