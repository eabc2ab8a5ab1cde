-- Run by the postgres image on its volume's first start: one database per Guild service, all
-- owned by the guild role (each service migrates its own schema when it starts).
CREATE DATABASE guild_auth OWNER guild;
CREATE DATABASE guild_membership OWNER guild;
CREATE DATABASE guild_content OWNER guild;
CREATE DATABASE guild_referral OWNER guild;
