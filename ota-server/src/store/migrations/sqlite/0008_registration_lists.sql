-- Registration policy (issue 16): device ids an operator registered ahead (`allow`) or refuses
-- (`deny`: recalls, stolen units). An allow entry may carry the class an OU-less device
-- registers in.
CREATE TABLE registration_list (
    list TEXT NOT NULL,
    device_id TEXT NOT NULL,
    class TEXT,
    note TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (list, device_id)
);
